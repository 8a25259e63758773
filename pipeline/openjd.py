"""A job graph as an Open Job Description job template (``jobtemplate-2023-09``): the one
canonical description every backend starts from, checked with ``openjd-model``.

- Job parameters: ``ShotConfig`` (PATH: a farm maps it to its workers' file system) and
  ``VfxDouble`` (the command, default ``vfx-double``).
- One step per stage, in the graph's order, ``dependencies`` as the graph says.
- Chunked steps take a ``Frames`` task parameter, a STRING per chunk ("1001-1010"): the
  frame ranges the stage's ``--frames`` takes, so every task is one plain command line.
- Host requirements: memory (MiB) and, for GPU steps, ``amount.worker.gpu``.
"""

from __future__ import annotations

from typing import Any

from openjd.model import DecodeValidationError, create_job, decode_job_template

from vfx_double.errors import ConfigError

from .graph import CONFIG, JobGraph

SPEC = "jobtemplate-2023-09"


def template(graph: JobGraph) -> dict[str, Any]:
    """The job template for ``graph``, validated; a dict ready for JSON or YAML."""
    steps = []
    for step in graph.steps:
        args = [a.replace(CONFIG, "{{Param.ShotConfig}}").replace("{frames}", "{{Task.Param.Frames}}")
                for a in step.args]
        amounts = [{"name": "amount.worker.memory", "min": step.memory_gib * 1024}]
        if step.gpus:
            amounts.append({"name": "amount.worker.gpu", "min": step.gpus})
        spec: dict[str, Any] = {
            "name": step.name,
            "script": {"actions": {"onRun": {"command": "{{Param.VfxDouble}}", "args": args}}},
            "hostRequirements": {"amounts": amounts},
        }
        if step.chunks:
            spec["parameterSpace"] = {"taskParameterDefinitions": [
                {"name": "Frames", "type": "STRING", "range": list(step.chunks)}]}
        if step.depends_on:
            spec["dependencies"] = [{"dependsOn": name} for name in step.depends_on]
        steps.append(spec)
    job = {
        "specificationVersion": SPEC,
        "name": f"vfx_double {graph.show}/{graph.shot} ({graph.run})",
        "parameterDefinitions": [
            {"name": "ShotConfig", "type": "PATH", "objectType": "FILE", "dataFlow": "IN",
             "default": str(graph.config),
             "description": "the shot config (YAML) every task runs on"},
            {"name": "VfxDouble", "type": "STRING", "default": "vfx-double",
             "description": "the vfx-double command on the workers"},
        ],
        "steps": steps,
    }
    check(job)
    return job


def check(job: dict[str, Any]) -> Any:
    """Decode ``job`` with openjd-model and instantiate it with its defaults; ConfigError
    naming the first problem when it is not a valid job template."""
    try:
        decoded = decode_job_template(template=job)
        return create_job(job_template=decoded, job_parameter_values={})
    except (DecodeValidationError, ValueError) as err:
        raise ConfigError("job template", f"a valid OpenJD {SPEC} template",
                          " ".join(str(err).split())[:300]) from err
