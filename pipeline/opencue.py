"""The ``opencue`` backend: the job as an OpenCue job spec (the cjsl XML Cuebot launches),
built with pyoutline (``opencue-pyoutline``, the ``opencue`` extra: see pyproject.toml) and
with ``--submit`` launched on the configured Cuebot.

- One layer per step, in the template's order, running the step's own command line (no
  pycuerun wrapper: the workers need ``vfx-double``, not an outline session).
- Chunks: OpenCue frames are numbers, so a chunked step is one layer over the plate's
  frames with ``chunk`` = the chunk size and ``--frames #FRAME_START#-#FRAME_END#``; RQD
  fills in each chunk's first and last frame, which gives exactly the template's Frames
  values (checked when the spec is written). A step of one task is a one-frame layer.
- Dependencies are layer-on-layer, as the template's: comp waits for the whole render (its
  colour statistics read neighbouring chunks' elements), render for train, train for track.
- The job environment (``VFX_DOUBLE_CONFIG_SHA256``, ``VFX_DOUBLE_JOB``) is the spec's job
  env; each layer's memory and GPUs come from its step's host requirements, its service is
  ``shell`` (the Cuebot default for command lines; the layer's own values override it).
- The written spec is read back (XML) and compared with the job: layers, order, ranges,
  chunks, commands per chunk, dependencies and environment. pyoutline has no reader for
  the XML it writes, so this module's :func:`read` is that check.
- ``--submit`` launches it on a Cuebot named by ``CUEBOT_HOSTS`` or an OpenCue config file
  (``OPENCUE_CONFIG_FILE``, ``OPENCUE_CONF``, ``~/.config/opencue/opencue.yaml``), as pycue
  finds it. With none configured nothing is sent: a ConfigError (exit 2) says so.

Writing the spec reads nothing from the network and writes nothing but ``--out``
(pyoutline's session folder is not made: the spec is serialised without ``setup()``).
"""

from __future__ import annotations

import os
import re
import shlex
import xml.etree.ElementTree as Et
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vfx_double.errors import ConfigError, VfxDoubleError
from vfx_double.io import atomic

from .backends import RunOptions
from .submit import Job

FOLDER = "opencue"
SPEC_FILE = "job.xml"
SERVICE = "shell"
#: what RQD replaces with a chunk's first and last frame
FRAME_START, FRAME_END = "#FRAME_START#", "#FRAME_END#"
INSTALL = ("pip install 'vfx-double[opencue]' (./dev.sh setup does; the extra pins "
           "grpcio-tools so protobuf stays <5 for mediapipe)")

_SPAN = re.compile(r"^(-?\d+)-(-?\d+)$")


class SpecMismatch(VfxDoubleError):
    """The spec pyoutline wrote does not say what the job says: a bug, not bad input."""

    exit_code = 1


def _pyoutline() -> Any:
    """The ``outline`` package; a one-line ConfigError saying how to install it otherwise."""
    try:
        import outline  # noqa: F401
        import outline.backend.cue
        import outline.cuerun
        import outline.modules.shell
    except ImportError as err:
        raise ConfigError("--backend opencue", "opencue-pyoutline (the `outline` package)",
                          f"it cannot be imported ({err})", f"install it: {INSTALL}") from err
    return outline


@dataclass(frozen=True)
class Layer:
    """One layer as the spec says it (and as :func:`read` reads it back)."""

    name: str
    cmd: str
    range: str
    chunk: int
    memory: str | None = None
    gpus: int = 0
    service: str = SERVICE


def layer_frames(step: dict[str, Any]) -> tuple[str, int]:
    """The OpenCue range and chunk size of a template step: its ``CHUNK[INT]`` Frames range
    and chunk length (``defaultTaskCount``); one task without frames -> a one-frame layer.
    OpenCue cuts fixed-size chunks where an OpenJD engine may balance them: the frames
    covered and the most per task are the same."""
    space = step.get("parameterSpace")
    if not space:
        return "1", 1
    frames = space["taskParameterDefinitions"][0]
    match = _SPAN.match(str(frames.get("range", "")))
    if not match or frames.get("type") != "CHUNK[INT]":
        raise ConfigError(f"job step {step['name']}", "a CHUNK[INT] Frames range A-B",
                          repr(frames.get("range")), "make the job again (vfx-double run)")
    return f"{match[1]}-{match[2]}", int(frames["chunks"]["defaultTaskCount"])


def cue_tasks(step: dict[str, Any]) -> list[str | None]:
    """The Frames of each task OpenCue makes of ``step`` (``[None]``: one task)."""
    frame_range, chunk = layer_frames(step)
    if not step.get("parameterSpace"):
        return [None]
    first, last = (int(v) for v in frame_range.split("-"))
    return [f"{a}-{b}" for a, b in chunk_spans(first, last, chunk)]


def chunk_spans(first: int, last: int, size: int) -> list[tuple[int, int]]:
    """The chunks Cuebot makes of ``first-last`` with chunk ``size``: each dispatched frame
    and the last frame of its chunk (``#FRAME_START#``, ``#FRAME_END#``)."""
    return [(a, min(a + size - 1, last)) for a in range(first, last + 1, size)]


def resources(step: dict[str, Any]) -> dict[str, Any]:
    """A layer's memory and GPUs from the step's host requirements."""
    out: dict[str, Any] = {}
    for amount in step.get("hostRequirements", {}).get("amounts", []):
        low = int(amount.get("min", 0))
        if amount["name"] == "amount.worker.memory" and low:
            out["memory"] = f"{low}m"
        elif amount["name"] == "amount.worker.gpu" and low:
            out["gpus"] = low
        elif amount["name"] == "amount.worker.vcpu" and low:
            out["cores"] = low
    return out


def spec_name(job: Job) -> str:
    """The outline's name (Cuebot prefixes show-shot-user_): letters, digits, _ . - only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"vfx_double_{job.name}")


def build(job: Job, show: str, shot: str) -> Any:
    """The job as a pyoutline ``Outline``: a Shell layer per step."""
    outline = _pyoutline()
    from outline.modules.shell import Shell

    previous = outline.Outline.current
    try:
        ol = outline.Outline(spec_name(job), show=show, shot=shot, current=True)
        for key, value in job.environment().items():
            ol.set_env(key, value, pre=True)  # pre-setshot: what the spec carries
        layers = {}
        for step in job.steps():
            frame_range, chunk = layer_frames(step)
            frames = None if not step.get("parameterSpace") else f"{FRAME_START}-{FRAME_END}"
            layer = Shell(step["name"], command=job.shell_command(step, frames),
                          range=frame_range, chunk=chunk, service=SERVICE,
                          **resources(step))
            for dep in step.get("dependencies", []):
                layer.depend_all(layers[dep["dependsOn"]])
            layers[step["name"]] = layer
        return ol
    finally:
        outline.Outline.current = previous


def serialize(ol: Any) -> str:
    """The cjsl XML spec of ``ol``, the commands as they are (no pycuerun wrapper)."""
    _pyoutline()
    import outline.backend.cue
    import outline.cuerun

    launcher = outline.cuerun.OutlineLauncher(ol, nomail=True, pause=False)
    return outline.backend.cue.serialize_simple(launcher)


def read(xml: str) -> dict[str, Any]:
    """A spec read back: ``layers`` (name -> Layer, in order), ``depends`` ((layer, on
    layer, type)), ``env`` (the job's), ``show``, ``shot`` and the job ``name``."""
    try:
        root = Et.fromstring(xml)
    except Et.ParseError as err:
        raise ConfigError("opencue spec", "well-formed XML", str(err), "write it again") from err
    job = root.find("job")
    if root.tag != "spec" or job is None:
        raise ConfigError("opencue spec", "<spec> with a <job>", root.tag, "write it again")
    layers = {}
    for el in job.findall("layers/layer"):
        gpus = el.findtext("gpus")
        layers[el.get("name")] = Layer(
            name=str(el.get("name")), cmd=el.findtext("cmd", ""), range=el.findtext("range", ""),
            chunk=int(el.findtext("chunk", "1")), memory=el.findtext("memory"),
            gpus=int(gpus) if gpus else 0,
            service=el.findtext("services/service", ""))
    depends = [(d.findtext("deplayer"), d.findtext("onlayer"), d.get("type"))
               for d in root.findall("depends/depend")]
    env = {k.get("name"): k.text or "" for k in job.findall("env/key")}
    return {"name": job.get("name"), "show": root.findtext("show"),
            "shot": root.findtext("shot"), "layers": layers, "depends": depends, "env": env}


def expand(layer: Layer) -> list[tuple[str | None, str]]:
    """Each chunk's frames (None for a one-task layer) and the command RQD runs for it."""
    if FRAME_START not in layer.cmd:
        return [(None, layer.cmd)]
    first, last = (int(v) for v in _SPAN.match(layer.range).groups())  # type: ignore[union-attr]
    return [(f"{a}-{b}", layer.cmd.replace(FRAME_START, str(a)).replace(FRAME_END, str(b)))
            for a, b in chunk_spans(first, last, layer.chunk)]


def check(job: Job, xml: str) -> dict[str, Any]:
    """``xml`` read back and compared with ``job`` (each chunk's command line as the shell
    splits it, after RQD's frame tokens); SpecMismatch naming the first difference."""
    spec = read(xml)

    def differs(what: str, wanted: Any, found: Any) -> SpecMismatch:
        return SpecMismatch("opencue spec", f"{what}: {wanted}", str(found),
                            "a pyoutline that serialises differently? report it")

    names = [s["name"] for s in job.steps()]
    if list(spec["layers"]) != names:
        raise differs("layers", names, list(spec["layers"]))
    for step in job.steps():
        layer = spec["layers"][step["name"]]
        wanted = [(f, job.command(step, f)) for f in cue_tasks(step)]
        found = [(f, shlex.split(cmd)) for f, cmd in expand(layer)]
        if found != wanted:
            pairs = list(zip(wanted, found)) or [(wanted[:1], found[:1])]
            first = next(((w, f) for w, f in pairs if w != f), (wanted, found))
            raise differs(f"{step['name']} chunks ({len(wanted)})",
                          f"{first[0]}", f"{first[1]} ({len(found)} chunks)")
    wanted_deps = sorted((s["name"], d["dependsOn"], "LAYER_ON_LAYER")
                         for s in job.steps() for d in s.get("dependencies", []))
    if sorted(spec["depends"]) != wanted_deps:
        raise differs("depends", wanted_deps, sorted(spec["depends"]))
    if spec["env"] != job.environment():
        raise differs("env", job.environment(), spec["env"])
    return spec


def cuebot() -> str | None:
    """Where pycue would find a Cuebot, or None: ``CUEBOT_HOSTS``, else a user OpenCue
    config file (pycue's built-in default, localhost, is not a configured one)."""
    hosts = os.environ.get("CUEBOT_HOSTS", "").strip()
    if hosts:
        return f"CUEBOT_HOSTS={hosts}"
    for var in ("OPENCUE_CONFIG_FILE", "OPENCUE_CONF"):
        path = os.environ.get(var)
        if path and os.path.exists(path):
            return f"${var} ({path})"
    user = Path(os.path.expanduser("~")) / ".config" / "opencue" / "opencue.yaml"
    return f"{user}" if user.is_file() else None


def submit(xml: str, spec_file: Path, echo: Callable[[str], None]) -> int:
    where = cuebot()
    if where is None:
        raise ConfigError("--submit", "a Cuebot to launch the job on",
                          "none configured (no $CUEBOT_HOSTS, no OpenCue config file); "
                          "nothing was submitted",
                          f"set CUEBOT_HOSTS=host:8443 (or OPENCUE_CONFIG_FILE), then run "
                          f"again with --submit; the spec is at {spec_file}")
    import opencue

    echo(f"opencue: launching on the Cuebot of {where}")
    try:
        jobs = opencue.api.launchSpecAndWait(xml)
    except opencue.exception.CueException as err:
        echo(f"opencue: the Cuebot of {where} refused or could not be reached: "
             f"{' '.join(str(err).split())[:300]}; the spec is at {spec_file}")
        return 1
    for launched in jobs:
        echo(f"opencue: launched {launched.name()}")
    return 0


def run(job: Job, options: RunOptions, echo: Callable[[str], None]) -> int:
    from vfx_double.config import load

    _pyoutline()
    out = Path(options.out) if options.out is not None else job.folder / FOLDER / SPEC_FILE
    if out.is_dir():
        out = out / SPEC_FILE
    out = out.absolute()
    if out.exists():
        raise ConfigError(str(out), "a new file for the OpenCue spec", "it exists",
                          "pick another --out; a written spec is never overwritten")
    cfg = load(job.parameters["ShotConfig"])
    xml = serialize(build(job, cfg.show, cfg.shot))
    spec = check(job, xml)
    atomic.write_text(out, xml + "\n", overwrite=False)
    chunks = ", ".join(f"{name} {len(expand(layer))}" for name, layer in spec["layers"].items())
    echo(f"opencue: wrote the job spec {out} ({len(spec['layers'])} layers: {chunks} frames; "
         f"read back and checked)")
    if not options.submit:
        where = cuebot()
        echo(f"opencue: Cuebot: {where}; submit with --submit" if where else
             "opencue: no Cuebot configured here (set CUEBOT_HOSTS or an OpenCue config "
             "file to submit with --submit)")
        return 0
    return submit(xml, out, echo)
