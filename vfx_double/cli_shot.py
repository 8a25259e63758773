"""The ``vfx-double`` commands that take a whole shot: ``demo``, ``run`` (its farm job),
``job`` (the template alone), ``status`` and ``nuke export``. Registered on the command
group by :mod:`vfx_double.cli`, which turns their errors into exit codes like any other's.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from .errors import ConfigError

#: the help of every command's --keyring (cli.py's stage commands use it too)
KEYRING_HELP = ("folder of trusted issuer public keys (default: $VFX_DOUBLE_KEYRING, then "
                "~/.config/vfx_double/keyring); never read from a shot config")


def _target_steps(config: Path) -> int:
    """Training steps the shot config asks for (its own, else its preset's)."""
    from .config import load
    from .train.presets import PRESETS

    cfg = load(config)
    return cfg.train.steps or PRESETS[cfg.train.preset].steps


@click.command()
@click.option("--out", "out", default="demo_out", show_default=True, type=click.Path(path_type=Path),
              help="folder to build the demo shot in (reused: existing frames are kept)")
@click.option("--frames", default=48, show_default=True, type=click.IntRange(2, 10000),
              help="number of plate frames")
@click.option("--train-steps", default=200, show_default=True, type=click.IntRange(0),
              help="cpu-tiny training steps to run (0: track only)")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1),
              help="tasks run at once (render and comp chunks)")
def demo(out: Path, frames: int, train_steps: int, workers: int) -> int:
    """Build the synthetic demo shot and run its job end to end on this machine through the
    local farm backend (track, a short train, render and comp chunks, review)."""
    from pipeline.runs import start

    from .cli import progress_bar
    from .demo.shot import build
    from .train.presets import PRESETS
    from .validate import validate as run_validate

    with progress_bar(2 * frames, "demo plates") as bar:
        shot = build(out, frames=frames, progress=bar.update, train_steps=train_steps or None)
    click.echo(f"demo shot (synthetic, public-domain photo) in {shot.root}")
    click.echo(f"  config:    {shot.config}")
    click.echo(f"  plate:     {shot.plate} {shot.frames[0]}-{shot.frames[1]}")
    click.echo(f"  reference: {shot.reference}")
    click.echo(f"  licence:   {shot.licence} (DEMO, keyring {shot.keyring})")
    target = _target_steps(shot.config)
    if train_steps and target != train_steps:
        click.echo(f"  note: the shot config (yours, kept) trains to {target} steps, not "
                   f"--train-steps {train_steps}")
    report = run_validate(shot.config, keyring=shot.keyring)
    click.echo("validate: OK")
    for line in report.lines:
        click.echo(f"  {line}")
    # the job's tasks are separate processes: they find the demo keyring and the demo's
    # C2PA signing folder (review signs the movies) in the environment
    os.environ["VFX_DOUBLE_KEYRING"] = str(shot.keyring)
    os.environ["VFX_DOUBLE_SIGNING"] = str(shot.signing)
    code = start(shot.config, backend="local", until=None if train_steps else "track",
                 workers=workers, echo=click.echo)
    if code:
        return code
    click.echo("demo: OK (every output is labelled synthetic; `vfx-double status "
               f"{shot.config}` shows what each stage made and cost)")
    if train_steps:
        from .config import load

        cfg = load(shot.config)
        work_root = cfg.work_root
        click.echo(f"dailies: review movies in {cfg.shot_dir / 'review'}; "
                   f"`vfx-double verify --keyring {shot.keyring} FILE` checks one, "
                   f"`vfx-double dailies serve --work-root {work_root} --keyring "
                   f"{shot.keyring}` shows them (add a user first: `vfx-double dailies user "
                   f"add NAME --work-root {work_root}`)")
    click.echo(f"next: export VFX_DOUBLE_KEYRING={shot.keyring}; "
               f"vfx-double train {shot.config} --resume --steps {PRESETS['cpu-tiny'].steps}  "
               "(continues the demo's run to the preset's steps)")
    return 0


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
def status(config: Path, as_json: bool) -> None:
    """Where a shot stands: each stage's versions, what the latest holds and lacks, training's
    step of its target and last loss, cost (CPU- and GPU-hours) with failed tasks and the last
    error, the audit log and the latest farm job. Reads the work area only."""
    import json

    from pipeline.runs import job_lines, job_status

    from .config import load
    from .status import shot_status

    report = shot_status(config)
    farm = job_status(load(config))
    if as_json:
        click.echo(json.dumps({**json.loads(report.to_json()), "farm": farm}, indent=2,
                              sort_keys=True))
    else:
        click.echo("\n".join(report.lines() + job_lines(farm)))


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="the job template to write (JSON; never overwritten)")
@click.option("--run", "run_name", help="the training run the job makes (default: the next one)")
def job(config: Path, out: Path, run_name: str | None) -> None:
    """Write the shot's farm job as an Open Job Description template (jobtemplate-2023-09):
    track, train, render and comp chunks, checked with openjd-model."""
    import json

    from pipeline import graph, openjd

    from .config import load
    from .io import atomic

    template = openjd.template(graph.build(load(config), run=run_name))
    try:
        atomic.write_text(out, json.dumps(template, indent=2) + "\n", overwrite=False)
    except FileExistsError as err:
        raise ConfigError(str(out), "a new job file", "an existing file",
                          "write to another path; job files are never overwritten") from err
    steps = ", ".join(f"{s['name']} ({len(openjd.task_frames(template, s['name']))} tasks)"
                      if "parameterSpace" in s else s["name"] for s in template["steps"])
    click.echo(f"job: {out} ({openjd.SPEC}): {steps}")


@click.command("run")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--backend", help="local (runs here; the default), deadline, slurm or opencue "
              "(default: the shot's farm.backend)")
@click.option("--until", type=click.Choice(["track", "train", "render", "comp"]),
              help="the last stage the job runs (default: comp)")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="local: tasks run at once")
@click.option("--new", "new_job", is_flag=True,
              help="local: start a new job even when the latest one has tasks left to do")
@click.option("--run", "run_name", help="the training run the job makes (default: the next one)")
@click.option("--out", type=click.Path(path_type=Path),
              help="deadline, opencue: where to write the bundle or outline")
@click.option("--submit", is_flag=True, help="deadline, opencue: submit what was written")
@click.option("--no-wait", is_flag=True, help="slurm: return once the job is queued")
@click.option("--vfx-double", "command", help="the command tasks run (default: this install's "
              "vfx-double; `vfx-double` on the workers' PATH for deadline and opencue)")
@click.option("--nuke-script", type=click.Path(path_type=Path),
              help="also render this script (from `vfx-double nuke export`) with Nuke, in the "
                   "same chunks: `nuke -F A-B -x SCRIPT`, after render and comp")
def run_job(config: Path, backend: str | None, until: str | None, workers: int, new_job: bool,
            run_name: str | None, out: Path | None, submit: bool, no_wait: bool,
            command: str | None, nuke_script: Path | None) -> int:
    """Run the shot's job (track, train, render and comp chunks) on a farm engine: locally
    with openjd-sessions, or as a Deadline Cloud bundle, Slurm jobs or an OpenCue outline.
    A rerun of a local job skips its finished tasks."""
    from pipeline.runs import start

    return start(config, backend=backend, until=until, workers=workers, new=new_job,
                 run=run_name, out=out, submit=submit, wait=not no_wait, command=command,
                 nuke_script=nuke_script, echo=click.echo)


@click.group()
def nuke() -> None:
    """The shot for compositors in Nuke: the DigitalDouble script and its live model."""


@nuke.command("export")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--render", "render_version", default="",
              help="the render version the node reads (default: the latest comped one)")
@click.option("--keyring", type=click.Path(path_type=Path), help=KEYRING_HELP)
def nuke_export(config: Path, render_version: str, keyring: Path | None) -> None:
    """Write the shot's Nuke script (plate -> DigitalDouble -> Write with provenance), the
    actor model as TorchScript with its CatFileCreator sidecar, and the tracking curves, in
    a new nuke/vNNN folder of the shot's work area."""
    from nuke_plugin.export import export

    for line in export(config, keyring=keyring, render=render_version).lines():
        click.echo(line)


#: what cli.py adds to its group
COMMANDS = (demo, status, job, run_job, nuke)
