"""Shapes, config checks, weight sharing, FLOP counts and a one-batch overfit."""

from __future__ import annotations

import pytest
import torch

from vfx_double.errors import ConfigError
from vfx_double.model.networks import (
    FaceModel,
    ModelSpec,
    PatchDiscriminator,
    Upscale,
    build_discriminator,
    count_params,
    flops_breakdown,
    flops_per_image,
)

# narrow widths keep every test here fast; the shapes do not depend on them
SMALL = {"encoder_dims": 4, "inter_dims": 16, "decoder_dims": 4, "disc_dims": 4}


@pytest.mark.parametrize("resolution", [64, 96, 128])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes(resolution: int, dtype: torch.dtype) -> None:
    spec = ModelSpec(resolution=resolution, **SMALL)
    model = FaceModel(spec).to(dtype)
    x = torch.rand(2, 3, resolution, resolution, dtype=dtype)
    for decoder in ("performer", "actor"):
        rgb, mask = model(x, decoder)
        assert rgb.shape == (2, 3, resolution, resolution) and rgb.dtype == dtype
        assert mask.shape == (2, 1, resolution, resolution)
        assert float(mask.detach().min()) >= 0.0 and float(mask.detach().max()) <= 1.0
    logits = PatchDiscriminator(spec).to(dtype)(x)
    assert logits.shape == (2, 1, resolution // 8, resolution // 8)


@pytest.mark.parametrize("resolution", [100, 32, 2048, 0, 1056])
def test_bad_resolution(resolution: int) -> None:
    with pytest.raises(ConfigError, match=r"resolution.*multiple of 32 in 64\.\.1024"):
        ModelSpec(resolution=resolution)


def test_bad_widths_and_inputs() -> None:
    with pytest.raises(ConfigError, match="encoder_dims"):
        ModelSpec(encoder_dims=0)
    model = FaceModel(ModelSpec(**SMALL))
    with pytest.raises(ConfigError, match=r"\(B, 3, 64, 64\)"):
        model(torch.rand(1, 3, 32, 32), "actor")
    with pytest.raises(ConfigError, match="performer"):
        model(torch.rand(1, 3, 64, 64), "nobody")  # type: ignore[arg-type]
    assert build_discriminator(ModelSpec(disc_dims=0)) is None
    with pytest.raises(ConfigError, match="disc_dims"):
        PatchDiscriminator(ModelSpec(disc_dims=0))


def test_spec_round_trip() -> None:
    spec = ModelSpec(resolution=128, encoder_dims=8, inter_dims=32, decoder_dims=8, disc_dims=0)
    d = spec.to_dict()
    assert d["schema"] == "ModelSpec.2"
    assert ModelSpec.from_dict(d) == spec
    with pytest.raises(ConfigError, match="keys"):
        ModelSpec.from_dict({**d, "depth": 3})
    with pytest.raises(ConfigError, match="schema"):
        ModelSpec.from_dict({**d, "schema": "ModelSpec.3"})
    with pytest.raises(ConfigError, match="layout"):
        ModelSpec(layout="lia")


def test_spec_1_upgrades_to_what_it_meant() -> None:
    """Checkpoints written before layouts and padding were DF with zero padding."""
    old = {"schema": "ModelSpec.1", "resolution": 64, "encoder_dims": 16, "inter_dims": 64,
           "decoder_dims": 16, "disc_dims": 8}
    spec = ModelSpec.from_dict(old)
    assert (spec.layout, spec.padding) == ("df", "zeros")
    conv = FaceModel(spec).encoder.blocks[0][0]
    assert conv.padding_mode == "zeros"


def test_upscale_starts_without_checkerboard() -> None:
    """ICNR: at init every 2x2 output block of an upscale is flat, so a fresh decoder shows
    no sub-pixel grid; a plain init shows one."""
    torch.manual_seed(0)
    up = Upscale(8, 4)
    x = torch.randn(1, 8, 6, 6)
    y = up(x)
    blocks = y.unfold(2, 2, 2).unfold(3, 2, 2)  # (1, 4, 6, 6, 2, 2)
    assert float((blocks - blocks[..., :1, :1]).abs().max().detach()) == 0.0
    plain = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3, 1, 1), torch.nn.PixelShuffle(2))
    rough = plain(x).unfold(2, 2, 2).unfold(3, 2, 2)
    assert float((rough - rough[..., :1, :1]).abs().max().detach()) > 0.1


def test_reflect_padding_keeps_flat_borders_flat() -> None:
    """A flat crop through a fresh generator: with reflection every pixel sees the same
    neighbourhood, so the output is flat up to the corner; zero padding makes a frame."""
    torch.manual_seed(0)
    x = torch.full((1, 3, 64, 64), 0.45)
    for padding, flat in (("reflect", True), ("zeros", False)):
        torch.manual_seed(0)
        rgb, _ = FaceModel(ModelSpec(**SMALL, padding=padding))(x, "actor")
        spread = float(rgb.detach().std(dim=(2, 3)).max())  # per channel, over pixels
        assert (spread < 1e-5) is flat, (padding, spread)


@pytest.mark.parametrize("layout", ["df", "liae"])
def test_layouts_route_identities(layout: str) -> None:
    """LIAE: one decoder; the performer code uses inter b, the actor code (and the swap)
    does not; DF: one decoder per identity."""
    torch.manual_seed(0)
    model = FaceModel(ModelSpec(**SMALL, layout=layout))
    x = torch.rand(2, 3, 64, 64)
    rgb, _ = model(x, "actor")
    rgb.square().mean().backward()
    if layout == "liae":
        assert all(p.grad is None for p in model.inter_b.parameters())
        assert all(p.grad is not None for p in model.inter_ab.parameters())
        model.zero_grad(set_to_none=True)
        model(x, "performer")[0].square().mean().backward()
        assert all(p.grad is not None for p in model.inter_b.parameters())
    else:
        assert all(p.grad is None for p in model.decoder_performer.parameters())
    code, decoder = model.actor_path()
    with torch.no_grad():
        assert torch.equal(decoder(code(model.encoder(x)))[0], model(x, "actor")[0])


def test_actor_loss_reaches_shared_encoder_only() -> None:
    torch.manual_seed(0)
    model = FaceModel(ModelSpec(**SMALL))
    rgb, mask = model(torch.rand(2, 3, 64, 64), "actor")
    (rgb.square().mean() + mask.mean()).backward()
    for part in (model.encoder, model.inter, model.decoder_actor):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in model.decoder_performer.parameters())


def test_params_and_flops() -> None:
    spec = ModelSpec(**SMALL)
    model = FaceModel(spec)
    assert count_params(model) == sum(p.numel() for p in model.parameters())
    parts = flops_breakdown(spec)
    assert flops_per_image(spec) == parts["encoder"] + parts["inter"] + parts["decoder"]
    # first encoder conv by hand: 5x5x3 taps per output, 4 channels at 32x32, 2 flops/MAC
    assert parts["encoder"] > 2 * 4 * 32 * 32 * 75
    # FLOPs of a fully convolutional net grow with the pixel count
    big = flops_per_image(ModelSpec(resolution=128, **SMALL))
    assert big == pytest.approx(4 * flops_per_image(spec), rel=1e-9)
    assert parts["discriminator"] > 0
    assert flops_breakdown(ModelSpec(resolution=64, **{**SMALL, "disc_dims": 0}))[
        "discriminator"] == 0


def test_tiny_model_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = FaceModel(ModelSpec(encoder_dims=4, inter_dims=16, decoder_dims=4, disc_dims=0))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    # a smooth image, like a face crop; white noise cannot pass the bottleneck this fast
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4), size=64, mode="bilinear")
    x = x * 0.8 + 0.07
    y = torch.zeros(1, 1, 64, 64)
    y[..., 16:48, 16:48] = 1.0

    def loss_fn() -> torch.Tensor:
        rgb, mask = model(x, "performer")
        return (rgb - x).abs().mean() + (mask - y).square().mean()

    first = float(loss_fn().detach())
    for _ in range(130):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    assert float(loss_fn().detach()) < first / 5


@pytest.mark.parametrize("bottleneck", [32, 16])
def test_bottleneck_sets_the_code_grid(bottleneck: int) -> None:
    spec = ModelSpec(**SMALL, bottleneck=bottleneck)
    model = FaceModel(spec)
    x = torch.rand(1, 3, 64, 64)
    grids = []
    hook = model.inter.blocks[2].register_forward_hook(lambda m, i, o: grids.append(o.shape[-1]))
    model(x, "actor")
    hook.remove()
    assert grids == [64 // bottleneck]
    with pytest.raises(ConfigError, match="bottleneck"):
        ModelSpec(bottleneck=8)
