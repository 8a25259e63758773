"""The swap networks: a shared encoder and inter block, two decoders, a patch critic.

The layout follows DeepFaceLab SAEHD's "DF" architecture. One encoder and one inter block
are shared by both identities, so they learn a face code that is not tied to either; each
identity has its own decoder, and the swap is *performer image -> shared code -> actor
decoder*. Differences from SAEHD, and why:

* The inter block is convolutional (a stride-2 conv to a bottleneck at R/32, a 1x1 conv,
  two pixel-shuffle upscales back to R/8) instead of SAEHD's dense layers, so the same
  code runs at every resolution from 64 to 1024 without a weight matrix that grows with
  R^2.
* RGB and mask share the decoder trunk and split at two small heads; SAEHD runs a second,
  narrower mask decoder. Sharing halves the decoder cost and the mask is an easy target.
* Every conv that feeds a pixel shuffle starts ICNR-initialised (Aitken et al. 2017): the
  four sub-pixel kernels of an output channel start equal, so conv + shuffle starts as
  conv + nearest upscale and no checkerboard grid is there to be trained away (SAEHD has
  none and shows the grid for thousands of steps).
* Convs pad by reflection (``ModelSpec.padding``), so the crop's border rows see the same
  kind of neighbourhood as the inside; zero padding reads as a dark frame around every crop
  and the decoder answered it with coloured borders.

Two layouts (``ModelSpec.layout``), both from SAEHD:

* ``df``: one inter block, a decoder per identity; swap = actor decoder on the performer's
  code.
* ``liae``: one decoder and two inter blocks, ``ab`` (both identities) and ``b`` (the
  performer only). The actor's code is ``[ab(x), ab(x)]``, the performer's ``[b(x), ab(x)]``
  and the swap renders the performer image with the actor's code ``[ab(x), ab(x)]``: pose and
  expression travel through the shared ``ab`` into the same decoder that learnt the actor,
  which carries expressions better than ``df``.
* Inputs are ACEScct log values (about 0.07-0.9 for ordinary images). The encoder
  subtracts ``INPUT_OFFSET`` so they are roughly centred on zero and the RGB head adds it
  back, so the model reads and writes plain ACEScct. The RGB head is linear: highlights
  above 1.0 are legal ACEScct and must not be squashed by an activation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..errors import ConfigError

#: Subtracted from ACEScct inputs (and added back to RGB outputs): mid-grey is about 0.41.
INPUT_OFFSET = 0.4

MIN_RESOLUTION = 64
MAX_RESOLUTION = 1024
SCHEMA = "ModelSpec.2"
#: ModelSpec.1 (before layouts and padding) meant exactly this.
_SPEC_1 = {"layout": "df", "padding": "zeros", "bottleneck": 32}
LAYOUTS = ("df", "liae")
PADDINGS = ("zeros", "reflect")
BOTTLENECKS = (32, 16)

Decoder = Literal["performer", "actor"]


@dataclass(frozen=True)
class ModelSpec:
    """What defines the architecture; saved with every checkpoint.

    Attributes:
        resolution: crop size R in pixels, a multiple of 32 in 64..1024.
        encoder_dims: base channel width of the encoder (widths e, 2e, 4e, 8e).
        inter_dims: width of the bottleneck (inter) block.
        decoder_dims: base channel width of each decoder (widths 8d, 4d, 2d).
        disc_dims: base width of the patch discriminator; 0 disables it.
        layout: ``df`` or ``liae`` (see the module docstring).
        padding: how the generator's convs pad, ``reflect`` or ``zeros``.
        bottleneck: the code's grid is ``R / bottleneck`` pixels on a side: 32 (SAEHD's
            squeeze) or 16, four times the code for the same widths.
    """

    resolution: int = 64
    encoder_dims: int = 32
    inter_dims: int = 128
    decoder_dims: int = 32
    disc_dims: int = 16
    layout: str = "df"
    padding: str = "reflect"
    bottleneck: int = 32

    def __post_init__(self) -> None:
        r = self.resolution
        if (not isinstance(r, int) or isinstance(r, bool) or r % 32
                or not MIN_RESOLUTION <= r <= MAX_RESOLUTION):
            raise ConfigError(
                "ModelSpec.resolution",
                f"a multiple of 32 in {MIN_RESOLUTION}..{MAX_RESOLUTION}",
                repr(r),
                "pick e.g. 64, 128, 256 or 512",
            )
        for name in ("encoder_dims", "inter_dims", "decoder_dims", "disc_dims"):
            value = getattr(self, name)
            low = 0 if name == "disc_dims" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"ModelSpec.{name}", f"an integer >= {low}", repr(value))
        for name, choices in (("layout", LAYOUTS), ("padding", PADDINGS),
                              ("bottleneck", BOTTLENECKS)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"ModelSpec.{name}", f"one of {list(choices)}",
                                  repr(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        data = dict(d)
        schema = data.pop("schema", SCHEMA)
        if schema == "ModelSpec.1":
            data = {**data, **_SPEC_1}
        elif schema != SCHEMA:
            raise ConfigError("ModelSpec.schema", f"{SCHEMA!r} or 'ModelSpec.1'", repr(schema),
                              "the checkpoint was written by a newer model version")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError("ModelSpec", f"only the keys {sorted(known)}", f"{unknown}")
        return cls(**data)


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.1)


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: str = "reflect"
          ) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, padding_mode=padding)


def icnr_(conv: nn.Conv2d, scale: int = 2) -> None:
    """ICNR init of a conv feeding ``nn.PixelShuffle(scale)``, in place.

    PixelShuffle builds output channel ``c`` from input channels ``c * s^2 .. c * s^2 +
    s^2 - 1``; giving those the same (default-initialised) kernel and bias makes the
    shuffle start as a nearest-neighbour upscale.
    """
    out = conv.out_channels
    if out % (scale * scale):
        raise ConfigError("icnr_ conv", f"output channels divisible by {scale * scale}",
                          str(out))
    with torch.no_grad():
        sub = torch.empty(out // (scale * scale), *conv.weight.shape[1:])
        nn.init.kaiming_uniform_(sub, a=5 ** 0.5)  # Conv2d's own default init
        conv.weight.copy_(sub.repeat_interleave(scale * scale, dim=0))
        if conv.bias is not None:
            first = conv.bias.view(-1, scale * scale)[:, :1].clone()
            conv.bias.copy_(first.expand(-1, scale * scale).reshape(-1))


class Downscale(nn.Sequential):
    """Stride-2 conv + LeakyReLU(0.1): (B, C, H, W) -> (B, C_out, H/2, W/2)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 5, padding: str = "reflect"
                 ) -> None:
        super().__init__(_conv(c_in, c_out, kernel, 2, padding), _lrelu())


class Upscale(nn.Sequential):
    """Conv to 4x channels + LeakyReLU + pixel shuffle: (B, C, H, W) -> (B, C_out, 2H, 2W).

    ICNR-initialised (see :func:`icnr_`)."""

    def __init__(self, c_in: int, c_out: int, padding: str = "reflect") -> None:
        conv = _conv(c_in, 4 * c_out, 3, 1, padding)
        icnr_(conv)
        super().__init__(conv, _lrelu(), nn.PixelShuffle(2))


class ResidualBlock(nn.Module):
    """Two 3x3 convs with a skip, as SAEHD's decoder: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, padding: str = "reflect") -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, 3, 1, padding)
        self.conv2 = _conv(channels, channels, 3, 1, padding)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.conv2(self.act(self.conv1(x))))


class Encoder(nn.Module):
    """(B, 3, R, R) ACEScct -> (B, 8e, R/16, R/16) features; e = ``encoder_dims``."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        e, pad = spec.encoder_dims, spec.padding
        self.out_channels = 8 * e
        self.offset = INPUT_OFFSET  # an attribute, not a global, so TorchScript accepts it
        self.blocks = nn.Sequential(
            Downscale(3, e, padding=pad), Downscale(e, 2 * e, padding=pad),
            Downscale(2 * e, 4 * e, padding=pad), Downscale(4 * e, 8 * e, padding=pad),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x - self.offset)


class Inter(nn.Module):
    """Bottleneck: (B, 8e, R/16, R/16) -> code at R/bottleneck -> (B, inter, R/8, R/8)."""

    def __init__(self, spec: ModelSpec, in_channels: int) -> None:
        super().__init__()
        i, pad = spec.inter_dims, spec.padding
        self.out_channels = i
        squeeze = spec.bottleneck == 32
        ups = [Upscale(i, i, pad) for _ in range(2 if squeeze else 1)]
        self.blocks = nn.Sequential(
            _conv(in_channels, i, 3, 2 if squeeze else 1, pad), _lrelu(),
            nn.Conv2d(i, i, 1), _lrelu(), *ups,
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class FaceDecoder(nn.Module):
    """(B, inter, R/8, R/8) -> rgb (B, 3, R, R) ACEScct, mask (B, 1, R, R) in [0, 1]."""

    def __init__(self, spec: ModelSpec, in_channels: int) -> None:
        super().__init__()
        d, pad = spec.decoder_dims, spec.padding
        self.trunk = nn.Sequential(
            Upscale(in_channels, 8 * d, pad), ResidualBlock(8 * d, pad),
            Upscale(8 * d, 4 * d, pad), ResidualBlock(4 * d, pad),
            Upscale(4 * d, 2 * d, pad), ResidualBlock(2 * d, pad),
        )
        self.rgb = nn.Conv2d(2 * d, 3, 1)
        self.mask = _conv(2 * d, 1, 3, 1, pad)
        self.offset = INPUT_OFFSET

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.trunk(x)
        return self.rgb(h) + self.offset, torch.sigmoid(self.mask(h))


def check_image(x: Tensor, resolution: int, where: str) -> None:
    """Raise ConfigError unless ``x`` is (B, 3, resolution, resolution)."""
    if x.ndim != 4 or tuple(x.shape[1:]) != (3, resolution, resolution):
        raise ConfigError(where, f"a (B, 3, {resolution}, {resolution}) tensor",
                          f"shape {tuple(x.shape)}")


class SharedCode(nn.Module):
    """LIAE's actor code: ``[ab(x), ab(x)]`` from the shared inter block ``ab``."""

    def __init__(self, inter: Inter) -> None:
        super().__init__()
        self.inter = inter

    def forward(self, x: Tensor) -> Tensor:
        code = self.inter(x)
        return torch.cat([code, code], dim=1)


class FaceModel(nn.Module):
    """Shared encoder; per ``spec.layout`` either one inter and a decoder per identity
    (``df``) or inter blocks ``ab`` and ``b`` and one decoder (``liae``).

    ``forward(x, decoder)``: (B, 3, R, R) ACEScct -> rgb (B, 3, R, R), mask (B, 1, R, R),
    rendered as ``decoder``'s identity ("performer" or "actor"); the swap is a performer
    image with ``decoder="actor"``.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = Encoder(spec)
        if spec.layout == "df":
            self.inter = Inter(spec, self.encoder.out_channels)
            self.decoder_performer = FaceDecoder(spec, self.inter.out_channels)
            self.decoder_actor = FaceDecoder(spec, self.inter.out_channels)
        else:
            self.inter_ab = Inter(spec, self.encoder.out_channels)
            self.inter_b = Inter(spec, self.encoder.out_channels)
            self.decoder = FaceDecoder(spec, 2 * self.inter_ab.out_channels)

    def forward(self, x: Tensor, decoder: Decoder) -> tuple[Tensor, Tensor]:
        check_image(x, self.spec.resolution, "FaceModel input")
        if decoder not in ("performer", "actor"):
            raise ConfigError("FaceModel decoder", "'performer' or 'actor'", repr(decoder))
        features = self.encoder(x)
        if self.spec.layout == "df":
            dec = self.decoder_performer if decoder == "performer" else self.decoder_actor
            return dec(self.inter(features))
        shared = self.inter_ab(features)
        own = self.inter_b(features) if decoder == "performer" else shared
        return self.decoder(torch.cat([own, shared], dim=1))

    def actor_path(self) -> tuple[nn.Module, FaceDecoder]:
        """The modules after the encoder that render the actor: (code, decoder). Built on
        demand (not submodules), so the weights are saved once under their own names."""
        if self.spec.layout == "df":
            return self.inter, self.decoder_actor
        return SharedCode(self.inter_ab), self.decoder


class PatchDiscriminator(nn.Module):
    """PatchGAN critic: (B, 3, R, R) ACEScct -> (B, 1, R/8, R/8) real/fake logits.

    Three stride-2 4x4 convs (widths c, 2c, 4c; receptive field 46 px per logit) and a 3x3
    logit conv, as pix2pix; no normalisation so per-sample logits do not depend on the
    batch (the trainer may shard batches across GPUs).
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        c = spec.disc_dims
        if c < 1:
            raise ConfigError("PatchDiscriminator disc_dims", "an integer >= 1", repr(c),
                              "disc_dims 0 means no discriminator; do not build one")
        self.spec = spec
        self.blocks = nn.Sequential(
            nn.Conv2d(3, c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * c, 1, 3, 1, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        check_image(x, self.spec.resolution, "PatchDiscriminator input")
        return self.blocks(x - INPUT_OFFSET)


def build_discriminator(spec: ModelSpec) -> PatchDiscriminator | None:
    """The actor-side critic, or None when ``spec.disc_dims`` is 0."""
    return PatchDiscriminator(spec) if spec.disc_dims > 0 else None


def count_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _conv_flops(module: nn.Module, x: Tensor) -> int:
    """2 x multiply-adds of every Conv2d/Linear in ``module`` run on ``x`` (via hooks)."""
    total = 0

    def hook(layer: nn.Module, _inputs: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            per_out = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
        else:
            per_out = layer.in_features
        total += 2 * out.numel() * per_out

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in handles:
            h.remove()
    return total


def flops_breakdown(spec: ModelSpec) -> dict[str, int]:
    """Forward FLOPs (2 x multiply-adds) for one image, per part.

    Counted with forward hooks on every Conv2d/Linear while a dummy (1, 3, R, R) image runs
    through the parts; activations, biases, pixel shuffles and sigmoids are left out (they
    are well under 1% here). Keys: ``encoder``, ``inter``, ``decoder`` (either one; both
    have the same shape), ``discriminator`` (0 when disabled).
    """
    model = FaceModel(spec)
    code_path, decoder = model.actor_path()
    x = torch.zeros(1, 3, spec.resolution, spec.resolution)
    with torch.no_grad():
        feats = model.encoder(x)
        code = code_path(feats)
    enc = _conv_flops(model.encoder, x)
    # The swap path; LIAE's performer path also runs inter block b (a small block at R/16).
    inter = _conv_flops(code_path, feats)
    dec = _conv_flops(decoder, code)
    disc = build_discriminator(spec)
    return {"encoder": enc, "inter": inter, "decoder": dec,
            "discriminator": _conv_flops(disc, x) if disc is not None else 0}


def flops_per_image(spec: ModelSpec) -> int:
    """Forward FLOPs of the model part of one training image, for MFU reporting.

    Each training image goes through the encoder, the inter block and its own identity's
    decoder once (the performer -> actor swap takes the same path), so this is
    encoder + inter + one decoder from ``flops_breakdown``. The discriminator is not
    included (it runs on actor images only, twice: real and fake). A training step costs
    about 3x this per image (forward + backward for inputs and weights).
    """
    parts = flops_breakdown(spec)
    return parts["encoder"] + parts["inter"] + parts["decoder"]
