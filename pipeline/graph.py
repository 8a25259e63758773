"""A shot's job graph: the stages as command lines, in dependency order, with the chunks each
can be split into. Built from a ShotConfig; calls stages as commands, never imports them.

What each stage allows (checked in its code):

- track: one task per shot, with its QC contact sheet and preview. Pass one, gap filling and zero-lag smoothing need the whole
  shot, and it writes its track and faceset versions only once every frame is tracked, so
  an interrupted task leaves no version the next stage could pick up.
- train: one task, on ``farm.gpus`` GPUs (a GPU preset): ``train --nproc N`` starts a
  rank per GPU under torchrun and turns a stop signal into one checkpoint and exit 75. Its run is named here, at submission (``--run run-NNN``): the first task
  starts it, a retried or requeued one resumes it, with the same command line. A task
  stopped by a signal exits 75 so the engine retries it rather than starting render.
- render: frame chunks of ``farm.chunk_size``, in parallel, pinned to the named run (render
  refuses a run short of its target steps). Chunks land in one version (render options).
- comp: frame chunks; each chunk's colour statistics read render elements up to 12 frames
  beyond it, so every comp chunk waits for the whole render step (simpler than neighbour
  dependencies, and the render step is short next to training).
- review: one task after the whole comp (its movies, contact sheet and sidecar cover every
  frame). It signs with the workers' own C2PA signing folder (``$VFX_DOUBLE_SIGNING``): keys
  never travel with a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vfx_double.config import ShotConfig
from vfx_double.errors import ConfigError
from vfx_double.shot import sequence_frames
from vfx_double.workarea import WorkArea

#: stands for the shot config's path in a step's command line: a job parameter, so a farm
#: can map the path to its workers' file system
CONFIG = "{config}"


@dataclass(frozen=True)
class StepSpec:
    """One step of the job: its command line after ``vfx-double`` (``{config}`` stands for
    the shot config's path, ``{frames}`` for a chunk's range),
    the chunks (None: one task), the steps it waits for and what a host needs."""

    name: str
    args: tuple[str, ...]
    chunks: tuple[str, ...] | None = None
    depends_on: tuple[str, ...] = ()
    gpus: int = 0
    memory_gib: int = 4
    #: the whole range ("1001-1048") and chunk length behind ``chunks``
    frames: str = ""
    chunk_size: int = 0
    #: the program the args follow: vfx-double, or nuke (a Nuke render of an exported script)
    program: str = "vfx-double"


@dataclass(frozen=True)
class JobGraph:
    show: str
    shot: str
    config: Path
    run: str
    config_sha256: str
    steps: tuple[StepSpec, ...] = field(default_factory=tuple)


def chunks(first: int, last: int, size: int) -> tuple[str, ...]:
    """``first``-``last`` in ranges of ``size`` frames ("1001-1010", ...)."""
    return tuple(f"{a}-{min(a + size - 1, last)}" for a in range(first, last + 1, size))


def next_run(cfg: ShotConfig) -> str:
    """The training run a new job will make: the one after the shot's latest."""
    area = WorkArea(cfg.shot_dir)
    return area.version_name("train", (area.versions("train") or [0])[-1] + 1)


#: the stages a job can run, in order (``--until`` names one of them)
ORDER = ("track", "train", "render", "comp", "review")


def build(cfg: ShotConfig, *, run: str | None = None, until: str | None = None,
          nuke_script: Path | None = None) -> JobGraph:
    """The job for ``cfg``: track -> train -> render chunks -> comp chunks -> review; with ``until``,
    the steps up to and including that stage; with ``nuke_script`` (from ``vfx-double nuke
    export``), a last step rendering it with Nuke in the same chunks (``nuke -F A-B -x``:
    the farm's Nuke render licences), after the steps it reads (render, comp's record)."""
    if until is not None and until not in ORDER:
        raise ConfigError("--until", f"one of {', '.join(ORDER)}", repr(until),
                          "name the last stage the job should run")
    run = run or next_run(cfg)
    config = CONFIG
    _, plate_frames = sequence_frames(cfg.plate, cfg.where("plate", "path"))
    frames = chunks(plate_frames[0], plate_frames[-1], cfg.farm.chunk_size)
    gpu = cfg.train.preset != "cpu-tiny"
    # several GPUs: one rank each under torchrun, started by the task's own command
    nproc = ("--nproc", str(cfg.farm.gpus)) if gpu and cfg.farm.gpus > 1 else ()
    span = {"frames": f"{plate_frames[0]}-{plate_frames[-1]}", "chunk_size": cfg.farm.chunk_size}
    steps = (
        StepSpec("track", ("track", config, "--qc")),
        StepSpec("train", ("train", config, "--run", run) + nproc, depends_on=("track",),
                 gpus=cfg.farm.gpus if gpu else 0, memory_gib=16 if gpu else 8),
        StepSpec("render", ("render", config, "--frames", "{frames}", "--run", run),
                 chunks=frames, depends_on=("train",), gpus=1 if gpu else 0, **span),
        StepSpec("comp", ("comp", config, "--frames", "{frames}"), chunks=frames,
                 depends_on=("render",), **span),
        StepSpec("review", ("review", config), depends_on=("comp",)),
    )
    if until is not None:
        steps = steps[:ORDER.index(until) + 1]
    if nuke_script is not None:
        after = tuple(s.name for s in steps if s.name in ("render", "comp"))[-1:]
        steps += (StepSpec("nuke", ("-F", "{frames}", "-x", str(Path(nuke_script).absolute())),
                           chunks=frames, depends_on=after, memory_gib=8, program="nuke",
                           **span),)
    return JobGraph(cfg.show, cfg.shot, cfg.source, run, cfg.config_hash(), steps)
