"""A job graph as an Open Job Description job template (``jobtemplate-2023-09``): the one
canonical description every backend starts from, checked with ``openjd-model``.

- Job parameters: ``ShotConfig`` (PATH: a farm maps it to its workers' file system),
  ``VfxDouble`` (the command, default ``vfx-double``), ``ConfigSha256`` (the settings'
  hash at submission) and ``JobDir`` (the job's folder, see ``submit``).
- A job environment sets ``VFX_DOUBLE_CONFIG_SHA256`` and ``VFX_DOUBLE_JOB`` for every
  task: a stage refuses a shot config that changed after submission.
- One step per stage, in the graph's order, ``dependencies`` as the graph says.
- Chunked steps take a ``Frames`` task parameter of type ``CHUNK[INT]`` (the
  ``TASK_CHUNKING`` extension): the plate's range in contiguous chunks of
  ``farm.chunk_size``, each "1001-1010" as the stage's ``--frames`` takes it, so every task
  is one plain command line.
- Host requirements: memory (MiB) and, for GPU steps, ``amount.worker.gpu``.
"""

from __future__ import annotations

from typing import Any

from openjd.model import (
    DecodeValidationError,
    StepParameterSpaceIterator,
    create_job,
    decode_job_template,
)

from vfx_double.errors import ConfigError

from .graph import CONFIG, JobGraph

SPEC = "jobtemplate-2023-09"
#: frame chunks as CHUNK[INT] task parameters: an engine that knows them may size chunks
EXTENSIONS = ("TASK_CHUNKING",)


def template(graph: JobGraph) -> dict[str, Any]:
    """The job template for ``graph``, validated; a dict ready for JSON or YAML."""
    steps = []
    for step in graph.steps:
        args = [a.replace(CONFIG, "{{Param.ShotConfig}}").replace("{frames}", "{{Task.Param.Frames}}")
                for a in step.args]
        amounts = [{"name": "amount.worker.memory", "min": step.memory_gib * 1024}]
        if step.gpus:
            amounts.append({"name": "amount.worker.gpu", "min": step.gpus})
        command = "{{Param.Nuke}}" if step.program == "nuke" else "{{Param.VfxDouble}}"
        spec: dict[str, Any] = {
            "name": step.name,
            "script": {"actions": {"onRun": {"command": command, "args": args}}},
            "hostRequirements": {"amounts": amounts},
        }
        if step.chunks:
            spec["parameterSpace"] = {"taskParameterDefinitions": [{
                "name": "Frames", "type": "CHUNK[INT]", "range": step.frames,
                "chunks": {"defaultTaskCount": step.chunk_size, "rangeConstraint": "CONTIGUOUS"}}]}
        if step.depends_on:
            spec["dependencies"] = [{"dependsOn": name} for name in step.depends_on]
        steps.append(spec)
    parameters: list[dict[str, Any]] = [
        {"name": "ShotConfig", "type": "PATH", "objectType": "FILE", "dataFlow": "IN",
         "default": str(graph.config),
         "description": "the shot config (YAML) every task runs on"},
        {"name": "VfxDouble", "type": "STRING", "default": "vfx-double",
         "description": "the vfx-double command on the workers"},
        {"name": "ConfigSha256", "type": "STRING", "default": graph.config_sha256,
         "description": "the shot settings' hash at submission: a task refuses a "
                        "config changed since"},
        {"name": "JobDir", "type": "STRING", "default": "", "minLength": 0,
         "description": "the job's folder in the shot's work area (empty: none)"},
    ]
    if any(step.program == "nuke" for step in graph.steps):
        parameters.append({"name": "Nuke", "type": "STRING", "default": "nuke",
                           "description": "the Nuke executable on the workers (a render "
                                          "licence)"})
    job = {
        "specificationVersion": SPEC,
        "extensions": list(EXTENSIONS),
        "name": f"vfx_double {graph.show}/{graph.shot} ({graph.run})",
        "parameterDefinitions": parameters,
        "jobEnvironments": [{
            "name": "vfx_double",
            "description": "what every task checks its shot config against",
            "variables": {"VFX_DOUBLE_CONFIG_SHA256": "{{Param.ConfigSha256}}",
                          "VFX_DOUBLE_JOB": "{{Param.JobDir}}"},
        }],
        "steps": steps,
    }
    check(job)
    return job


def task_frames(job: dict[str, Any], step: str) -> list[str | None]:
    """The ``Frames`` value (a step's one task parameter) of each task of ``step`` as the
    engine iterates them (``[None]`` for a step of one task)."""
    created = check(job)
    space = next(s for s in created.steps if s.name == step).parameterSpace
    if space is None:
        return [None]
    return [str(next(iter(values.values())).value)
            for values in StepParameterSpaceIterator(space=space)]


def check(job: dict[str, Any]) -> Any:
    """Decode ``job`` with openjd-model and instantiate it with its defaults; ConfigError
    naming the first problem when it is not a valid job template."""
    try:
        decoded = decode_job_template(template=job, supported_extensions=list(EXTENSIONS))
        return create_job(job_template=decoded, job_parameter_values={})
    except (DecodeValidationError, ValueError) as err:
        raise ConfigError("job template", f"a valid OpenJD {SPEC} template",
                          " ".join(str(err).split())[:300]) from err
