"""Training presets: architecture, batch, learning rate and schedule per target machine.

The schedule (DeepFaceLab's, shortened to what a preset's run length allows): random warp
on for most of the run, "required to generalize facial expressions", and off for the last
``1 - warp_until`` of it "for extra sharpness"; the learning rate warms up over
``warmup_steps`` and then follows a cosine from ``lr`` down to ``lr * lr_end`` at the
run's target step, so a short CPU run ends on small, sharpening steps instead of stopping
mid-stride. Both are pure functions of (step, target steps), so a resumed run follows the
same curve.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..model.losses import LossWeights
from ..model.networks import ModelSpec
from .augment import AugmentSpec


@dataclass(frozen=True)
class Preset:
    name: str
    spec: ModelSpec
    batch_size: int
    steps: int
    lr: float
    checkpoint_every: int
    preview_every: int
    losses: LossWeights
    bf16: bool
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    #: random warp stops after this fraction of the run's steps (1.0: never)
    warp_until: float = 0.85
    warmup_steps: int = 100
    #: the learning rate at the last step, as a fraction of ``lr`` (1.0: constant)
    lr_end: float = 0.1
    #: on a CUDA device: weights and batches in channels-last layout, and the paired
    #: forward through ``torch.compile`` (measured +19% together on an H200 at 256 px)
    channels_last: bool = False
    compile: bool = False

    def to_dict(self) -> dict:
        out = asdict(self)
        out["spec"] = self.spec.to_dict()
        return out

    def learning_rate(self, step: int, total: int) -> float:
        """The generator's and critic's learning rate at ``step`` of a ``total``-step run."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        span = max(total - self.warmup_steps, 1)
        t = min(max(step - self.warmup_steps, 0) / span, 1.0)
        return self.lr * (self.lr_end + (1.0 - self.lr_end) * 0.5 * (1.0 + math.cos(math.pi * t)))

    def warp_stop(self, total: int) -> int:
        """The first step trained without random warp."""
        return math.ceil(self.warp_until * total)


#: Colour jitter of +-0.01 ACEScct is +-0.18 stops per channel: enough that lighting
#: passes through, where the old +-0.05 (+-0.88 stops) tinted training faces cyan and purple
#: and spent the small model on undoing it.
AUGMENT = AugmentSpec(warp=1.0, colour=0.01)

PRESETS: dict[str, Preset] = {
    # Learns something visible within minutes on 2 CPU cores: 64 px, narrow, GAN late.
    "cpu-tiny": Preset("cpu-tiny", ModelSpec(resolution=64, encoder_dims=16, inter_dims=64,
                                              decoder_dims=16, disc_dims=8, layout="liae"),
                       batch_size=8, steps=3000, lr=5e-4, checkpoint_every=100,
                       preview_every=250, losses=LossWeights(gan_start=2000, gan_full=3000),
                       bf16=False, augment=AUGMENT),
    "gpu-256": Preset("gpu-256", ModelSpec(resolution=256, encoder_dims=64, inter_dims=256,
                                            decoder_dims=64, disc_dims=32),
                      batch_size=16, steps=200_000, lr=5e-5, checkpoint_every=2000,
                      preview_every=1000, losses=LossWeights(gan_start=50_000, gan_full=80_000),
                      bf16=True, augment=AUGMENT, channels_last=True, compile=True),
    "gpu-512": Preset("gpu-512", ModelSpec(resolution=512, encoder_dims=64, inter_dims=512,
                                            decoder_dims=64, disc_dims=32),
                      batch_size=8, steps=300_000, lr=5e-5, checkpoint_every=2000,
                      preview_every=1000, losses=LossWeights(gan_start=80_000, gan_full=120_000),
                      bf16=True, augment=AUGMENT, channels_last=True, compile=True),
}


SPEC_KEYS = ("resolution", "encoder_dims", "inter_dims", "decoder_dims", "disc_dims")
RUN_KEYS = ("batch_size", "checkpoint_every", "preview_every")


def resolve(train: Any) -> Preset:
    """The config's preset with its overrides (``train.resolution``, widths, batch...)."""
    preset = PRESETS[train.preset]
    spec_over = {k: getattr(train, k) for k in SPEC_KEYS if getattr(train, k) is not None}
    run_over = {k: getattr(train, k) for k in RUN_KEYS if getattr(train, k) is not None}
    spec = ModelSpec.from_dict({**preset.spec.to_dict(), **spec_over}) if spec_over else preset.spec
    return replace(preset, spec=spec, **run_over)
