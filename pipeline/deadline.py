"""The ``deadline`` backend: the job as an AWS Deadline Cloud job bundle, the folder
``deadline bundle submit`` takes, and with ``--submit`` handed to it.

```
<job>/deadline-bundle/          (or ``--out``)
  template.json                 the job's OpenJD template, exactly as the job froze it
  parameter_values.json         the job's parameter values (ShotConfig, VfxDouble,
                                ConfigSha256, JobDir)
  asset_references.json         what the tasks read and write, for job attachments
```

- Parameter values: ``ShotConfig`` is a PATH (``dataFlow: IN``), so Deadline maps it to the
  workers' file system (storage profiles) or uploads it as a job attachment. Deadline's own
  ``deadline:*`` values (priority, retries, ...) are left to ``deadline bundle submit``'s
  options and the queue's defaults.
- Asset references, from the shot config as the job froze it: inputs are the shot config
  (and its ``_show.yaml``), the licence, the plate and reference footage folders, a colour
  config file's folder (its LUTs sit beside it) and the ``fan`` tracker's weights folder;
  the output is the shot's work area (every stage writes under it). The studio keyring is
  deliberately not one: workers trust their own (``$VFX_DOUBLE_KEYRING``), never one sent
  with the job.
- The shot config names its media relative to itself, so a farm should see the shot tree
  on shared storage (storage profiles); job attachments alone do not keep folders from
  different roots where the config expects them.
- ``--submit``: the farm and queue are the deadline CLI's defaults (``deadline config get
  defaults.farm_id`` / ``defaults.queue_id``, read offline). With none configured nothing is
  sent: a ConfigError (exit 2) says so and how to set them; the bundle stays written.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from vfx_double import config as config_mod
from vfx_double.color import resolve_config_uri
from vfx_double.errors import ConfigError
from vfx_double.io import atomic

from .backends import RunOptions
from .submit import Job

BUNDLE = "deadline-bundle"
TEMPLATE = "template.json"
PARAMETER_VALUES = "parameter_values.json"
ASSET_REFERENCES = "asset_references.json"

INSTALL_HINT = "install it: pip install 'vfx-double[deadline]' (the AWS Deadline Cloud client)"


def parameter_values(job: Job) -> dict[str, Any]:
    """``parameter_values.json``: every job parameter with the job's value, in the
    template's order."""
    names = [p["name"] for p in job.template.get("parameterDefinitions", [])]
    return {"parameterValues": [{"name": n, "value": job.parameters[n]}
                                for n in names if n in job.parameters]}


def asset_references(cfg: config_mod.ShotConfig) -> dict[str, Any]:
    """``asset_references.json`` for the shot ``cfg``: absolute paths, sorted."""
    files = {cfg.source, cfg.actor.licence}
    show = cfg.source.parent / config_mod.SHOW_DEFAULTS_NAME
    if show.is_file() and show != cfg.source:
        files.add(show)
    folders = {cfg.plate.path.parent, cfg.actor.reference.path.parent}
    if cfg.colour.config and not cfg.colour.config.startswith("ocio://"):
        folders.add(Path(resolve_config_uri(cfg.colour.config, cfg.source.parent)).parent)
    if cfg.track.weights is not None:
        folders.add(Path(cfg.track.weights))

    def text(paths: set[Path]) -> list[str]:
        return sorted(str(Path(p).absolute()) for p in paths)

    return {"assetReferences": {
        "inputs": {"filenames": text(files), "directories": text(folders)},
        "outputs": {"directories": text({cfg.shot_dir})},
        "referencedPaths": [],
    }}


def submitted_config(job: Job) -> config_mod.ShotConfig:
    """The job's shot config, refused (naming what changed) when it is not the one the job
    was frozen with: the bundle must describe the job, not today's file."""
    cfg = config_mod.load(job.parameters["ShotConfig"])
    config_mod.check_submitted(cfg, {config_mod.SUBMITTED_ENV: job.parameters["ConfigSha256"],
                                     config_mod.JOB_ENV: str(job.folder)})
    return cfg


def write_bundle(job: Job, out: Path) -> dict[str, Any]:
    """Write the job's bundle into the folder ``out`` (new or empty; never overwritten);
    returns its asset references."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(str(out), "a new or empty folder for the job bundle",
                          "it exists and is not empty",
                          "pick another --out; a written bundle is never overwritten")
    refs = asset_references(submitted_config(job))
    atomic.write_json(out / PARAMETER_VALUES, parameter_values(job), overwrite=False)
    atomic.write_json(out / ASSET_REFERENCES, refs, overwrite=False)
    # the template last: deadline reads a folder with a template as a bundle
    atomic.write_json(out / TEMPLATE, job.template, overwrite=False)
    return refs


def deadline_cli() -> str | None:
    """The ``deadline`` command next to this Python (a venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("deadline")
    return str(beside) if beside.is_file() else shutil.which("deadline")


def configured(cli: str) -> dict[str, str]:
    """The deadline CLI's default farm and queue (empty values: none set), read offline."""
    out = {}
    for key in ("defaults.farm_id", "defaults.queue_id"):
        done = subprocess.run([cli, "config", "get", key], capture_output=True, text=True,
                              timeout=60)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"deadline config get {key}", "the deadline CLI's setting",
                              f"exit {done.returncode}: {last}", "check the deadline install")
        out[key] = done.stdout.strip()
    return out


def submit(bundle: Path, echo: Callable[[str], None]) -> int:
    """``deadline bundle submit BUNDLE --yes`` to the configured farm and queue."""
    cli = deadline_cli()
    if cli is None:
        raise ConfigError("--submit", "the deadline CLI", "no `deadline` command", INSTALL_HINT)
    settings = configured(cli)
    missing = [k for k, v in settings.items() if not v]
    if missing:
        raise ConfigError(
            "deadline config", "a Deadline Cloud farm and queue to submit to",
            f"none configured ({', '.join(missing)} not set); nothing was submitted",
            f"run `deadline config set defaults.farm_id farm-...` and `deadline config set "
            f"defaults.queue_id queue-...` (or `deadline config gui`), then "
            f"`deadline bundle submit {bundle} --yes`")
    echo(f"deadline: submitting to {settings['defaults.farm_id']} / "
         f"{settings['defaults.queue_id']}")
    done = subprocess.run([cli, "bundle", "submit", str(bundle), "--yes"])
    if done.returncode != 0:
        echo(f"deadline: `deadline bundle submit` failed (exit {done.returncode}); "
             f"the bundle is at {bundle}")
        return 1
    return 0


def run(job: Job, options: RunOptions, echo: Callable[[str], None]) -> int:
    out = Path(options.out) if options.out is not None else job.folder / BUNDLE
    bundle = out.absolute()
    refs = write_bundle(job, bundle)["assetReferences"]
    tasks = sum(len(job.tasks_of(s)) for s in job.steps())
    echo(f"deadline: wrote the job bundle {bundle} ({len(job.steps())} steps, {tasks} tasks; "
         f"inputs {len(refs['inputs']['filenames'])} files, "
         f"{len(refs['inputs']['directories'])} folders; output {refs['outputs']['directories'][0]})")
    if not options.submit:
        echo(f"deadline: submit it with `deadline bundle submit {bundle}` "
             f"(or run again with --submit)")
        return 0
    return submit(bundle, echo)
