"""Training presets: architecture, batch, learning rate and schedule per target machine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ..model.losses import LossWeights
from ..model.networks import ModelSpec


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

    def to_dict(self) -> dict:
        out = asdict(self)
        out["spec"] = self.spec.to_dict()
        return out


PRESETS: dict[str, Preset] = {
    # Learns something visible within minutes on 2 CPU cores: 64 px, narrow, GAN late.
    "cpu-tiny": Preset("cpu-tiny", ModelSpec(resolution=64, encoder_dims=16, inter_dims=64,
                                              decoder_dims=16, disc_dims=8),
                       batch_size=8, steps=3000, lr=2e-4, checkpoint_every=100,
                       preview_every=250, losses=LossWeights(gan_start=2000, gan_full=3000),
                       bf16=False),
    "gpu-256": Preset("gpu-256", ModelSpec(resolution=256, encoder_dims=64, inter_dims=256,
                                            decoder_dims=64, disc_dims=32),
                      batch_size=16, steps=200_000, lr=5e-5, checkpoint_every=2000,
                      preview_every=1000, losses=LossWeights(gan_start=50_000, gan_full=80_000),
                      bf16=True),
    "gpu-512": Preset("gpu-512", ModelSpec(resolution=512, encoder_dims=64, inter_dims=512,
                                            decoder_dims=64, disc_dims=32),
                      batch_size=8, steps=300_000, lr=5e-5, checkpoint_every=2000,
                      preview_every=1000, losses=LossWeights(gan_start=80_000, gan_full=120_000),
                      bf16=True),
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
