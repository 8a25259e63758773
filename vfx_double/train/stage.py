"""The train stage as the CLI, farm and torchrun run it: checks, run folder, loop."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from .. import __version__
from .. import config as config_mod
from .. import licence as licence_mod
from ..color import ColourConfig
from ..errors import ConfigError, WorkAreaError
from ..model.device import pick_device
from ..face.faceset import open_faceset
from ..io import atomic
from ..model.checkpoint import Binding, latest_checkpoint
from ..progress import stage_progress
from ..records import hash_file
from ..shot import Shot, open_shot
from .data import FaceDataset, PairedBatches
from .loop import Dist, TrainState, resume_point, training_loop
from .presets import resolve as resolve_preset

DISPLAY = "sRGB Encoded Rec.709 (sRGB)"
PREVIEW_ROWS = 4


@dataclass
class TrainReport:
    run_dir: Path
    state: TrainState
    steps: int
    resumed_from: int

    def lines(self) -> list[str]:
        last = self.state.last
        how = " (stopped by a signal; resume with --resume)" if self.state.stopped_by_signal else ""
        return [f"run:   {self.run_dir}",
                f"steps: {self.resumed_from} -> {self.state.step} of {self.steps}{how}",
                f"loss:  total {last.get('total', float('nan')):.4f}; "
                f"{self.state.recent_images_per_second:.1f} images/s at the end "
                f"({self.state.images_per_second:.1f} since start)"]


def training_hash(cfg: config_mod.ShotConfig, faceset_dir: Path) -> str:
    """sha256 of what changes the model besides licence and architecture, which the binding
    holds on their own: the ``train:`` section as written (merged with the show's), the
    network colourspace and the faceset trained on (its two ``meta.json``, which list every
    crop; a faceset version is never rewritten). Review, farm, comp or plate-path edits do
    not change it, so they do not stop a ``--resume``."""
    settings = {"train": cfg.raw.get("train") or {}, "network": cfg.colour.network,
                "faceset": {side: hash_file(faceset_dir / side / "meta.json")
                            for side in ("plate", "actor")}}
    return config_mod.settings_hash(settings)


def train_shot(path: str | Path, *, steps: int | None = None, resume: bool = False,
               keyring: Path | None = None, device: str | None = None,
               bar: Callable | None = None, deterministic: bool = True,
               workers: int = 0, seed: int = 0, run: str | None = None) -> TrainReport:
    """Train the shot's model. ``run`` names the run folder (``run-003``): started when it
    is not there, resumed when it is (a farm task's one command line for both)."""
    shot = open_shot(path, uses=("train",), keyring=keyring)
    cfg = shot.cfg
    try:
        preset = resolve_preset(cfg.train)
    except ConfigError as err:
        raise ConfigError(cfg.where("train"), err.expected, err.found, err.hint) from err
    asked = steps
    steps = steps or cfg.train.steps or preset.steps
    faceset_dir = shot.require("faceset")
    dev = pick_device(device, rank=Dist.from_env().local_rank)
    # Only crops of footage the licence approves are trained on (track recorded each one's
    # source frame): a faceset from other footage is refused before a run folder is made.
    actor_set = open_faceset(faceset_dir / "actor")
    licence_mod.require_media(shot.licence, [
        (f, faceset_dir / "actor" / name) for f, name in zip(actor_set.frames, actor_set.files)],
        actor_set.sources)
    dist = Dist.from_env()
    if dist.world_size > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    binding = Binding(show=cfg.show, shot=cfg.shot, licence_id=shot.licence.licence_id,
                      config_hash=training_hash(cfg, faceset_dir),
                      architecture=preset.spec.to_dict())
    if run is not None:
        run_dir, made = shot.area.named("train", run)
        resume = not made
    else:
        run_dir = _run_dir(shot, resume, dist)
    options = {"schema": "TrainOptions.1", "preset": preset.to_dict(), "seed": seed,
               "faceset": str(faceset_dir.relative_to(cfg.shot_dir)),
               "binding": dataclasses.asdict(binding), "deterministic": deterministic,
               "world_size": dist.world_size, "vfx_double": __version__,
               "torch": torch.__version__, "steps": steps}
    options_path = run_dir / "options.json"
    if dist.writer and not options_path.exists():
        # Frozen before launch; a resume reuses the run's own options, never the new config's.
        atomic.write_json(options_path, options, overwrite=False)
    frozen = json.loads(options_path.read_text()) if options_path.exists() else options
    if frozen["binding"] != options["binding"] or frozen["preset"] != options["preset"]:
        raise ConfigError(str(options_path), "the settings this run was started with",
                          "a changed config, licence or preset",
                          "start a new run (without --resume) for new settings")
    # The run's target is recorded with it: a resume (a retried farm task) without --steps
    # trains to the run's own target, and render knows when the run is finished.
    if resume and asked is None and isinstance(frozen.get("steps"), int):
        steps = frozen["steps"]
    spec = preset.spec
    augment = preset.augment
    performer = FaceDataset(open_faceset(faceset_dir / "plate"), spec.resolution, augment, seed)
    actor = FaceDataset(actor_set, spec.resolution, augment, seed + 1)
    colour, network = shot.colour, shot.spaces.network
    start = _checkpoint_step(run_dir) if resume else 0
    with PairedBatches(performer, actor, preset.batch_size, seed, rank=dist.rank,
                       world_size=dist.world_size, workers=workers,
                       warp_stop=preset.warp_stop(steps)) as batches:
        with stage_progress(bar, max(steps - start, 0), f"train {cfg.shot}",
                            unit="step") as progress:
            state = training_loop(
                run_dir, preset, steps, batches, binding, seed=seed, resume=resume,
                device=dev, dist=dist, deterministic=deterministic,
                progress=progress,
                preview=lambda m, b, s: _preview(m, b, s, run_dir, colour, network))
    if dist.writer:
        latest = latest_checkpoint(run_dir)
        shot.audit(
            "train", inputs={"faceset": hash_file(faceset_dir / "plate" / "meta.json"),
                             "actor": hash_file(faceset_dir / "actor" / "meta.json")},
            outputs={"checkpoint": hash_file(latest / "weights.safetensors")} if latest else {},
            extra={"run": run_dir.name, "steps": state.step, "preset": preset.name,
                   "stopped_by_signal": state.stopped_by_signal})
    return TrainReport(run_dir, state, steps, start)


def _run_dir(shot: Shot, resume: bool, dist: Dist) -> Path:
    if resume:
        latest = shot.area.latest("train")
        if latest is None:
            raise WorkAreaError(str(shot.area.stage_dir("train")), "a run to resume", "none",
                                "start one without --resume")
        return latest
    if dist.world_size > 1:
        # Every rank must use the folder rank 0 makes: it is shared through the process group.
        holder = [str(shot.new_version("train")) if dist.writer else ""]
        torch.distributed.broadcast_object_list(holder, src=0)
        return Path(holder[0])
    return shot.new_version("train")


def _checkpoint_step(run_dir: Path) -> int:
    latest = resume_point(run_dir)
    if latest is None:
        return 0
    return int(json.loads((latest / "state.json").read_text())["step"])


def _preview(model: torch.nn.Module, batch: dict, step: int, run_dir: Path,
             colour: ColourConfig, network: str) -> None:
    """Grid PNG: performer, its reconstruction, and the swap (performer through the actor
    decoder), rows of up to four samples; labelled synthetic."""
    performer = batch["performer"]["target_rgb"][:PREVIEW_ROWS]
    with torch.no_grad():
        was_training = model.training
        model.eval()
        recon, _ = model(batch["performer"]["rgb"][:PREVIEW_ROWS], "performer")
        swap, swap_mask = model(performer, "actor")
        model.train(was_training)
    tiles = []
    for images in (performer, recon, swap):
        row = np.concatenate([t.float().cpu().numpy().transpose(1, 2, 0) for t in images], axis=1)
        tiles.append(row)
    grid = np.ascontiguousarray(np.concatenate(tiles, axis=0), dtype=np.float32)
    srgb = np.clip(colour.convert(grid, network, DISPLAY), 0.0, 1.0)
    image = (srgb * 255.0 + 0.5).astype(np.uint8)[:, :, ::-1].copy()
    scale = max(1, 256 // max(1, performer.shape[-1]))
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    cv2.putText(image, f"SYNTHETIC preview step {step}: performer / recon / swap", (4, 14),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 255), 1, cv2.LINE_AA)
    path = run_dir / "previews" / f"step-{step:09d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), image)
