"""``vfx-double nuke export SHOT.yaml``: the shot's Nuke script and what it needs, in a new
numbered folder of the shot's work area (``nuke/vNNN/``, nothing earlier overwritten):

- ``<shot>_comp.nk``: plate Read -> DigitalDouble (the latest comp's render version, its
  colour match animated from the comp's records, and a live Inference branch behind a
  switch) -> provenance metadata -> Write of EXR half into ``render/``, plus a pre-filled
  CatFileCreator for the live branch's .cat;
- the actor model as TorchScript and its NukeModel.1 sidecar (the same run and checkpoint
  the elements were rendered with; refused unless the licence grants ``render`` today);
- ``tracking.json``: the Transform curves the live branch aligns the plate with.

A farm renders the script with ``vfx-double run SHOT.yaml --nuke-script <it>`` (a ``nuke
-F A-B -x`` step in comp's chunks). Pure core: never imports ``nuke``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vfx_double.color import resolve_config_uri
from vfx_double.config import load
from vfx_double.errors import WorkAreaError
from vfx_double.face import track as track_record
from vfx_double.io import atomic
from vfx_double.io.sequences import FrameSequence
from vfx_double.records import read_json
from vfx_double.workarea import WorkArea

from .core import digital_double as dd
from .core.live import align_knobs, live_nodes
from .core.nk import to_nk
from .core.torchscript import export_torchscript

STAGE = "nuke"


@dataclass(frozen=True)
class Exported:
    folder: Path
    script: Path
    torchscript: Path
    sidecar: Path
    tracking: Path
    render: str
    comp: str

    def lines(self) -> list[str]:
        return [f"nuke:    {self.folder}",
                f"script:  {self.script} (render {self.render}, colour match from comp "
                f"{self.comp})",
                f"model:   {self.torchscript} (+ {self.sidecar.name}; make the .cat with the "
                "script's LiveCatFileCreator in NukeX)",
                f"curves:  {self.tracking}",
                f"farm:    vfx-double run SHOT.yaml --nuke-script {self.script}"]


def export(config: str | Path, *, keyring: Path | None = None, render: str = "") -> Exported:
    config = Path(config).absolute()
    cfg = load(config)
    comp_dir = dd.comp_for(config, render)
    inputs = dd.from_comp(config, comp_dir)
    area = WorkArea(cfg.shot_dir)
    render_dir = area.stage_dir("render") / inputs.render
    rendered = read_json(render_dir / "options.json", "options", WorkAreaError)
    track_dir = area.stage_dir("track") / rendered["track"]
    track = track_record.load(track_dir / "track.json")
    folder = area.new_version(STAGE)
    model = export_torchscript(config, folder, keyring=keyring, run=rendered["train_run"],
                               checkpoint=rendered["checkpoint"])
    sidecar = read_json(model.sidecar, "options", WorkAreaError)
    live = live_nodes(track, sidecar, folder, plate_colourspace=inputs.plate_colourspace,
                      working=inputs.working, matte_channel=dd.MATTE)
    plate = FrameSequence(str(cfg.plate.path))
    plate_nuke = plate.hash_pattern()  # Nuke's ####, whatever the config wrote (%04d, $F4, @)
    out = folder / "render" / f"{cfg.shot}_nuke.{'#' * plate.padding}.exr"
    ocio = resolve_config_uri(cfg.colour.config, cfg.source.parent)
    graph, root = dd.comp_script(inputs, plate_nuke, str(out), ocio_config=str(ocio),
                                 fps=cfg.plate.fps, live=live)
    script = folder / f"{cfg.shot}_comp.nk"
    atomic.write_text(script, to_nk(graph, root), overwrite=False)
    tracking = folder / "tracking.json"
    atomic.write_text(tracking, json.dumps({
        "schema": "NukeTracking.1", "track": rendered["track"],
        "note": "Transform knobs (Nuke's pixel space: y up, pixel centres at +0.5) taking the "
                "plate to the aligned crop, per frame",
        "knobs": _plain(align_knobs(track, int(track.settings.get("crop_size", 256))))},
        indent=1) + "\n", overwrite=False)
    return Exported(folder, script, model.torchscript, model.sidecar, tracking,
                    inputs.render, comp_dir.name)


def _plain(value: object) -> object:
    """Knob values as JSON (curves as frame -> value)."""
    keys = getattr(value, "keys", None)
    if isinstance(keys, tuple):
        return {str(f): v for f, v in keys}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value
