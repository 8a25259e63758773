"""The training loop: one function, as in stylegan3's ``training_loop``.

Same code on a laptop CPU, one GPU (bf16 autocast) or several GPUs under ``torchrun``
(DDP, sharded batches, rank 0 writes). Every batch is a pure function of (seed, step,
rank), checkpoints hold weights, optimizer tensors and RNG states, so a run killed at any
point resumes from its last checkpoint and ends with the same weights.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import Tensor, nn

from ..io import atomic
from ..errors import WorkAreaError
from ..model.checkpoint import Binding, load_checkpoint, resume_checkpoint, save_checkpoint
from ..model.losses import (
    LossWeights,
    gan_discriminator_loss,
    gan_generator_loss,
    gan_weight,
    priority_map,
    reconstruction_terms,
)
from ..model.networks import FaceModel, PatchDiscriminator
from ..model.rng import GracefulStop, capture_rng, restore_rng
from ..progress import ProgressFn
from .presets import Preset

if TYPE_CHECKING:  # the loop only calls .batch(); GPU checks run it without the EXR stack
    from .data import PairedBatches

METRICS_EVERY = 10


@dataclass(frozen=True)
class Dist:
    """This process's place in a ``torchrun`` job (world 1 when run plainly)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Dist:
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def writer(self) -> bool:
        return self.rank == 0


class PairForward(nn.Module):
    """Both reconstructions in one forward, so DDP sees every parameter used once a step."""

    def __init__(self, model: FaceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, performer: Tensor, actor: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        p_rgb, p_mask = self.model(performer, "performer")
        a_rgb, a_mask = self.model(actor, "actor")
        return p_rgb, p_mask, a_rgb, a_mask


@dataclass
class TrainState:
    step: int
    last: dict[str, float] = field(default_factory=dict)
    stopped_by_signal: bool = False
    #: over this session of the run (since start or resume)
    images_per_second: float = 0.0
    #: over the steps since the previous metrics line: what the run does now
    recent_images_per_second: float = 0.0


def set_determinism(deterministic: bool) -> None:
    """Bit-exact CPU runs: deterministic kernels; cuDNN autotuning off."""
    torch.use_deterministic_algorithms(deterministic, warn_only=False)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic


def train_step(pair: nn.Module, disc: nn.Module | None, opt_g: torch.optim.Optimizer,
               opt_d: torch.optim.Optimizer | None, batch: dict[str, dict[str, Tensor]],
               losses: LossWeights, step: int, autocast: torch.autocast | None
               ) -> dict[str, Tensor]:
    """One generator (and discriminator) update; the logged terms come back as detached
    0-d tensors, so a step never waits for the device unless the caller reads them."""
    p, a = batch["performer"], batch["actor"]
    ctx = autocast if autocast is not None else _null()
    with ctx:
        p_rgb, p_mask, a_rgb, a_mask = pair(p["rgb"], a["rgb"])
    p_rgb, p_mask, a_rgb, a_mask = (t.float() for t in (p_rgb, p_mask, a_rgb, a_mask))
    loss_p, stats_p = reconstruction_terms(p_rgb, p_mask, p["target_rgb"], p["target_mask"],
                                           p["landmarks"], losses, p.get("priority"))
    loss_a, stats_a = reconstruction_terms(a_rgb, a_mask, a["target_rgb"], a["target_mask"],
                                           a["landmarks"], losses, a.get("priority"))
    total = loss_p + loss_a
    g_weight = gan_weight(step, losses.gan_start, losses.gan_full, losses.gan) if disc else 0.0
    stats: dict[str, Tensor] = {f"performer/{k}": v for k, v in stats_p.items()}
    stats.update({f"actor/{k}": v for k, v in stats_a.items()})
    if disc is not None and g_weight > 0:
        with ctx:
            fake = disc(a_rgb * a["target_mask"])
        g_loss = gan_generator_loss(fake.float(), losses.gan_kind)
        total = total + g_weight * g_loss
        stats["gan/generator"] = g_loss.detach()
    opt_g.zero_grad(set_to_none=True)
    total.backward()
    opt_g.step()
    if disc is not None and opt_d is not None and g_weight > 0:
        with ctx:
            real = disc(a["target_rgb"] * a["target_mask"])
            fake = disc((a_rgb * a["target_mask"]).detach())
        d_loss = gan_discriminator_loss(real.float(), fake.float(), losses.gan_kind)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        stats["gan/discriminator"] = d_loss.detach()
    stats["total"] = total.detach()
    stats["gan/weight"] = total.new_tensor(g_weight)
    return stats


def read_stats(stats: dict[str, Tensor]) -> dict[str, float]:
    """The step's logged terms as floats, with one device sync for all of them."""
    values = torch.stack([v.detach().float().reshape(()) for v in stats.values()]).tolist()
    return dict(zip(stats, values))


def with_priority(batch: dict[str, dict[str, Tensor]], losses: LossWeights, size: int
                  ) -> dict[str, dict[str, Tensor]]:
    """Add each side's eye/mouth priority map, built on the CPU from the landmarks before
    the batch goes to the device (on a GPU the hull tests were per-image kernel launches
    and a sync in every step)."""
    if losses.eyes <= 0 and losses.mouth <= 0:
        return batch
    return {side: {**part, "priority": priority_map(part["landmarks"], size, losses.eyes,
                                                    losses.mouth)}
            for side, part in batch.items()}


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _to(batch: dict[str, dict[str, Tensor]], device: torch.device, channels_last: bool = False
        ) -> dict[str, dict[str, Tensor]]:
    def move(v: Tensor) -> Tensor:
        v = v.to(device, non_blocking=True)
        return v.contiguous(memory_format=torch.channels_last) if channels_last and v.ndim == 4 else v

    return {side: {k: move(v) if isinstance(v, Tensor) else v for k, v in part.items()}
            for side, part in batch.items()}


def _trim_metrics(path: Path, upto: int) -> None:
    """After a resume from step ``upto``, drop lines a killed run wrote past it, so the
    metrics describe exactly the steps the final weights went through."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= upto]
    atomic.write_text(path, "".join(f"{line}\n" for line in kept))


def resume_point(run_dir: Path) -> Path | None:
    """The checkpoint a resume of ``run_dir`` continues from; None to start it at step 0.

    Refused (WorkAreaError) when its checkpoint folders are all damaged (see
    :func:`resume_checkpoint`), and when it has none but has metrics: starting over would
    replace the history of the steps it trained (or write a second one after it)."""
    folder = resume_checkpoint(run_dir)
    metrics = Path(run_dir) / "metrics.jsonl"
    if folder is None and metrics.is_file():
        with open(metrics, "rb") as lines:
            trained = next((line for line in lines if line.strip()), None)
        if trained is not None:
            raise WorkAreaError(str(Path(run_dir) / "checkpoints"), "a checkpoint to resume from",
                                f"none, though {metrics.name} records trained steps (the run "
                                "was killed before its first checkpoint)",
                                "start a new run without --resume; nothing in "
                                f"{Path(run_dir).name} was changed")
    return folder


def training_loop(run_dir: Path, preset: Preset, steps: int, batches: PairedBatches,
                  binding: Binding, *, seed: int, resume: bool, device: torch.device,
                  dist: Dist = Dist(), deterministic: bool = True,
                  progress: ProgressFn | None = None,
                  preview: Callable[[FaceModel, dict, int], None] | None = None,
                  total_steps: int | None = None) -> TrainState:
    """Train until ``steps``; resume from the run's last checkpoint when ``resume``.

    ``total_steps`` (default ``steps``) is the run's target, which the learning-rate
    schedule is laid over; a caller that trains in slices (to evaluate between them)
    passes the whole run's target so every slice follows the same curve."""
    total = total_steps or steps
    set_determinism(deterministic)
    torch.manual_seed(seed)
    model = FaceModel(preset.spec).to(device)
    channels_last = preset.channels_last and device.type == "cuda"
    if channels_last:
        # Before the optimizer and the checkpoint load: the parameters keep their identity.
        model.to(memory_format=torch.channels_last)
    disc = PatchDiscriminator(preset.spec).to(device) if preset.spec.disc_dims > 0 else None
    opt_g = torch.optim.Adam(model.parameters(), lr=preset.lr, betas=(0.5, 0.999))
    opt_d = (torch.optim.Adam(disc.parameters(), lr=preset.lr, betas=(0.5, 0.999))
             if disc is not None else None)
    modules: dict[str, nn.Module] = {"model": model}
    optimizers: dict[str, torch.optim.Optimizer] = {"generator": opt_g}
    if disc is not None and opt_d is not None:
        modules["discriminator"] = disc
        optimizers["discriminator"] = opt_d
    state = TrainState(step=0)
    folder = resume_point(run_dir) if resume else None
    if folder is not None:
        saved = load_checkpoint(run_dir, modules, optimizers, binding, path=folder,
                                device=device)
        state.step = int(saved["step"])
        if saved.get("rng"):
            restore_rng(saved["rng"])
    pair: nn.Module = PairForward(model)
    disc_run: nn.Module | None = disc
    if dist.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [dist.local_rank] if device.type == "cuda" else None
        pair = DDP(pair, device_ids=ids)
        disc_run = DDP(disc, device_ids=ids) if disc is not None else None
    if preset.compile and device.type == "cuda":
        pair = torch.compile(pair)  # the DDP-wrapped module, as torch's DDP + compile notes do
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                if preset.bf16 and device.type == "cuda" else None)
    metrics = run_dir / "metrics.jsonl"
    events = _event_writer(run_dir) if dist.writer else None
    if dist.writer:
        _trim_metrics(metrics, state.step)
    images = 0
    started = time.perf_counter()
    mark, mark_images = started, 0
    with GracefulStop() as stop:
        while state.step < steps:
            lr = preset.learning_rate(state.step, total)
            for opt in optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = lr
            batch = _to(with_priority(batches.batch(state.step), preset.losses,
                                      preset.spec.resolution), device, channels_last)
            step_stats = train_step(pair, disc_run, opt_g, opt_d, batch, preset.losses,
                                    state.step, autocast)
            state.step += 1
            images += 2 * preset.batch_size * dist.world_size
            done = state.step >= steps
            if dist.world_size > 1:
                # A signal reaches one rank: all stop on the same step, or the rest hang.
                flag = torch.tensor([float(stop.requested)], device=device)
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                stop.requested = bool(flag.item())
            if progress:
                progress(1)
            logging = state.step % METRICS_EVERY == 0 or done or stop.requested
            if logging or state.step % preset.checkpoint_every == 0:
                stats = read_stats(step_stats)
                state.last = stats
            if dist.writer and logging:
                now = time.perf_counter()
                elapsed = now - started
                state.images_per_second = images / elapsed if elapsed else 0.0
                state.recent_images_per_second = ((images - mark_images) / (now - mark)
                                                  if now > mark else 0.0)
                mark, mark_images = now, images
                line = {"step": state.step, "time": round(elapsed, 3), "lr": lr,
                        "images_per_second": round(state.images_per_second, 2),
                        "recent_images_per_second": round(state.recent_images_per_second, 2),
                        **{k: round(v, 6) for k, v in stats.items()}}
                with open(metrics, "a", encoding="utf-8") as out:
                    out.write(json.dumps(line, sort_keys=True) + "\n")
                if events is not None:
                    for key, value in stats.items():
                        events.add_scalar(key, value, state.step)
            if dist.writer and preview and (state.step % preset.preview_every == 0 or done):
                preview(model, batch, state.step)
            if state.step % preset.checkpoint_every == 0 or done or stop.requested:
                if dist.world_size > 1:
                    check_ranks_in_sync(model, device, dist)
                if dist.writer:
                    save_checkpoint(run_dir, state.step, modules, optimizers, binding,
                                    scalars={k: v for k, v in stats.items()}, rng=capture_rng())
                if dist.world_size > 1:
                    torch.distributed.barrier()
            if stop.requested:
                state.stopped_by_signal = True
                break
    if events is not None:
        events.close()
    return state


def check_ranks_in_sync(model: nn.Module, device: torch.device, dist: Dist) -> None:
    """All ranks must hold the same weights; DDP drifting apart would waste the run."""
    total = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    gathered = [torch.zeros_like(total) for _ in range(dist.world_size)]
    torch.distributed.all_gather(gathered, total.to(device))
    values = [float(g.item()) for g in gathered]
    if any(v != values[0] for v in values):
        raise RuntimeError(f"DDP ranks hold different weights (checksums {values})")


def _event_writer(run_dir: Path) -> Any:
    """TensorBoard event files (tensorboardX writes them without TensorFlow)."""
    from tensorboardX import SummaryWriter

    return SummaryWriter(logdir=str(run_dir / "tensorboard"))
