"""DSSIM against scikit-image, masked terms, priority hulls, GAN terms and the ramp."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import Delaunay
from skimage.metrics import structural_similarity

from vfx_double.errors import ConfigError
from vfx_double.face.align import template_in_crop
from vfx_double.model.losses import (
    LEFT_EYE,
    MOUTH,
    RIGHT_EYE,
    DSSIMLoss,
    LossWeights,
    ReconstructionLoss,
    dssim,
    feather_mask,
    gan_discriminator_loss,
    gan_generator_loss,
    gan_weight,
    mask_loss,
    masked_l1,
    ms_dssim,
    priority_map,
    reconstruction_loss,
    ssim_window,
)

DTYPES = [torch.float32, torch.float64]


def _pair(shape: tuple[int, ...], dtype: torch.dtype, noise: float = 0.2, seed: int = 0
          ) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=dtype)
    y = (x + noise * torch.randn(shape, generator=g, dtype=dtype)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("dtype", DTYPES)
def test_dssim_identity_and_range(dtype: torch.dtype) -> None:
    x, y = _pair((2, 3, 32, 32), dtype)
    assert float(dssim(x, x)) == pytest.approx(0.0, abs=1e-6)
    value = float(dssim(x, y))
    assert 0.0 < value <= 1.0
    assert 0.0 <= float(dssim(x, 1 - x)) <= 1.0
    assert float(dssim(x, y, window=ssim_window(32))) == pytest.approx(float(DSSIMLoss()(x, y)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("noise", [0.05, 0.3])
def test_dssim_matches_skimage(dtype: torch.dtype, noise: float) -> None:
    x, y = _pair((1, 3, 40, 48), dtype, noise)
    ref = structural_similarity(x[0].double().numpy(), y[0].double().numpy(), channel_axis=0,
                                gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=1.0)
    assert float(dssim(x, y)) == pytest.approx((1 - ref) / 2, abs=1e-4)


def test_dssim_mask_selects_region() -> None:
    x, y = _pair((1, 1, 48, 48), torch.float64)
    y[..., :, 24:] = x[..., :, 24:]  # right half identical
    mask = torch.zeros(1, 1, 48, 48, dtype=torch.float64)
    mask[..., :, 30:] = 1.0  # far enough right that no window reaches the noisy half
    assert float(dssim(x, y, mask)) == pytest.approx(0.0, abs=1e-9)
    assert float(dssim(x, y, 1 - mask)) > float(dssim(x, y))


def test_ms_dssim_scales() -> None:
    x, y = _pair((1, 3, 256, 256), torch.float32, 0.1)
    multi = float(ms_dssim(x, y))
    assert 0.0 < multi < 1.0
    assert multi != pytest.approx(float(dssim(x, y)), rel=1e-3)
    assert float(ms_dssim(x, x)) == pytest.approx(0.0, abs=1e-5)
    small_x, small_y = x[..., :128, :128], y[..., :128, :128]
    assert float(ms_dssim(small_x, small_y)) == float(dssim(small_x, small_y))
    mask = torch.ones(1, 1, 256, 256)
    assert float(ms_dssim(x, y, mask)) == pytest.approx(multi, abs=1e-5)


def test_dssim_gradcheck() -> None:
    x, y = _pair((1, 2, 12, 12), torch.float64)
    x.requires_grad_(True)
    mask = (torch.rand(1, 1, 12, 12, dtype=torch.float64) > 0.3).double()
    assert torch.autograd.gradcheck(lambda a: dssim(a, y, mask, window=5), (x,))
    assert torch.autograd.gradcheck(lambda a: dssim(a, y, window=11), (x,))


def test_ms_dssim_gradcheck() -> None:
    x, y = _pair((1, 1, 256, 256), torch.float64, 0.1)
    x.requires_grad_(True)
    out = ms_dssim(x, y)
    (grad,) = torch.autograd.grad(out, x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_masked_l1_gradcheck() -> None:
    x, y = _pair((2, 3, 6, 6), torch.float64)
    x = x + 0.01  # keep |x - y| away from its kink at 0
    x.requires_grad_(True)
    mask = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    weight = 1 + torch.rand(2, 1, 6, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: masked_l1(a, y, mask, weight), (x,))


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_l1_values(dtype: torch.dtype) -> None:
    x = torch.zeros(1, 3, 4, 4, dtype=dtype)
    y = torch.ones(1, 3, 4, 4, dtype=dtype)
    mask = torch.zeros(1, 1, 4, 4, dtype=dtype)
    mask[..., :2, :] = 1.0
    assert float(masked_l1(x, y, mask)) == pytest.approx(1.0)
    y[..., 2:, :] = 5.0  # outside the mask: ignored
    assert float(masked_l1(x, y, mask)) == pytest.approx(1.0)
    weight = torch.full((1, 1, 4, 4), 3.0, dtype=dtype)
    assert float(masked_l1(x, y, mask, weight)) == pytest.approx(3.0)
    with pytest.raises(ConfigError, match="mask"):
        masked_l1(x, y, mask[..., :2])


def test_mask_loss() -> None:
    a = torch.zeros(1, 1, 4, 4)
    b = torch.full((1, 1, 4, 4), 0.5)
    assert float(mask_loss(a, b)) == pytest.approx(0.25)
    assert float(mask_loss(b, b)) == 0.0


def _landmarks(size: int = 64) -> torch.Tensor:
    return torch.tensor(template_in_crop(size, 0.6), dtype=torch.float32)[None]


@pytest.mark.parametrize("dtype", DTYPES)
def test_priority_map_hulls(dtype: torch.dtype) -> None:
    lm = _landmarks().to(dtype)
    prio = priority_map(lm, 64, eyes=3.0, mouth=2.0)
    assert prio.shape == (1, 1, 64, 64) and prio.dtype == dtype
    centres = np.stack(np.meshgrid(np.arange(64) + 0.5, np.arange(64) + 0.5), -1).reshape(-1, 2)
    expected = np.ones(64 * 64)
    for idx, extra in ((RIGHT_EYE, 3.0), (LEFT_EYE, 3.0), (MOUTH, 2.0)):
        inside = Delaunay(lm[0, list(idx)].double().numpy()).find_simplex(centres) >= 0
        assert inside.sum() > 3  # the hull covers some pixels at 64 px
        expected += extra * inside
    np.testing.assert_array_equal(prio[0, 0].reshape(-1).double().numpy(), expected)
    eye_centre = lm[0, list(RIGHT_EYE)].mean(0).long()
    assert float(prio[0, 0, eye_centre[1], eye_centre[0]]) == 4.0
    mouth_centre = lm[0, list(MOUTH)].mean(0).long()
    assert float(prio[0, 0, mouth_centre[1], mouth_centre[0]]) == 3.0
    assert float(prio[0, 0, 0, 0]) == 1.0 and float(prio.min()) == 1.0


def test_priority_map_batch_and_errors() -> None:
    lm = torch.cat([_landmarks(), _landmarks() + 5.0])
    prio = priority_map(lm, 64)
    assert not torch.equal(prio[0], prio[1])
    assert torch.equal(priority_map(lm, 64, eyes=0.0, mouth=0.0), torch.ones(2, 1, 64, 64))
    with pytest.raises(ConfigError, match=r"\(B, 68, 2\)"):
        priority_map(lm[:, :60], 64)


def test_gan_losses_on_known_logits() -> None:
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 1.5])
    assert float(gan_generator_loss(fake, "hinge")) == pytest.approx(0.5 / 3)  # -mean(fake)
    # hinge critic: relu(1 - real) = [0, 0.5, 2]; relu(1 + fake) = [0, 1, 2.5]
    assert float(gan_discriminator_loss(real, fake, "hinge")) == pytest.approx(2.5 / 3 + 3.5 / 3)
    sp = torch.nn.functional.softplus
    assert float(gan_generator_loss(fake, "nonsat")) == pytest.approx(float(sp(-fake).mean()))
    assert float(gan_generator_loss(torch.zeros(4), "nonsat")) == pytest.approx(np.log(2))
    assert float(gan_discriminator_loss(torch.zeros(4), torch.zeros(4), "nonsat")) == \
        pytest.approx(2 * np.log(2))
    with pytest.raises(ConfigError, match="hinge"):
        gan_generator_loss(fake, "wgan")


def test_gan_weight_ramp() -> None:
    assert gan_weight(0, 100, 300, 0.1) == 0.0
    assert gan_weight(99, 100, 300, 0.1) == 0.0
    assert gan_weight(100, 100, 300, 0.1) == 0.0
    assert gan_weight(200, 100, 300, 0.1) == pytest.approx(0.05)
    assert gan_weight(300, 100, 300, 0.1) == pytest.approx(0.1)
    assert gan_weight(10_000, 100, 300, 0.1) == pytest.approx(0.1)
    assert gan_weight(5, 5, 5, 0.2) == pytest.approx(0.2)
    with pytest.raises(ConfigError):
        gan_weight(0, 10, 5, 0.1)


def test_loss_weights_validation() -> None:
    with pytest.raises(ConfigError, match="gan_kind"):
        LossWeights(gan_kind="lsgan")
    with pytest.raises(ConfigError, match="gan_full"):
        LossWeights(gan_start=10, gan_full=5)
    with pytest.raises(ConfigError, match="l1"):
        LossWeights(l1=-1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reconstruction_loss(dtype: torch.dtype) -> None:
    target, pred = _pair((2, 3, 64, 64), dtype, 0.1)
    target_mask = torch.zeros(2, 1, 64, 64, dtype=dtype)
    target_mask[..., 8:56, 8:56] = 1.0
    lm = torch.cat([_landmarks(), _landmarks()]).to(dtype)
    weights = LossWeights()
    total, terms = reconstruction_loss(pred, target_mask, target, target_mask, lm, weights)
    assert set(terms) == {"dssim", "l1", "mask", "background"} and terms["mask"] == 0.0
    assert float(total) == pytest.approx(10 * terms["dssim"] + 10 * terms["l1"]
                                         + terms["background"], rel=1e-5)
    # priority weights raise the L1 term above the unweighted one
    _, plain = reconstruction_loss(pred, target_mask, target, target_mask, None, weights)
    assert terms["l1"] > plain["l1"]
    same, _ = ReconstructionLoss(weights)(target, target_mask, target, target_mask, lm)
    assert float(same) == pytest.approx(0.0, abs=1e-4)  # float32 SSIM of equal images


@pytest.mark.parametrize("size, window", [(64, 5), (96, 9), (128, 11), (224, 19)])
def test_single_scale_window_follows_the_crop(size: int, window: int) -> None:
    """SAEHD's res / 11.6, odd: below 256 px ms_dssim is dssim with that window."""
    assert ssim_window(size) == window
    x, y = _pair((1, 3, size, size), torch.float32, 0.1)
    assert float(ms_dssim(x, y)) == float(dssim(x, y, window=window))


def test_feathered_loss_mask_trains_the_rim() -> None:
    """SAEHD's loss mask: solid inside the face up to its edge, fading to 0 over a few
    pixels past it, never above 1."""
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1.0
    out = feather_mask(mask)
    assert float(out.max()) == 1.0 and float(out.min()) >= 0.0
    assert torch.all(out[..., 17:47, 17:47] == 1.0)
    row = out[0, 0, 32]
    assert 0.2 < float(row[15]) < 1.0 and 0.0 < float(row[13]) < float(row[15])
    assert float(row[8]) == pytest.approx(0.0, abs=1e-3)


def test_background_term_sees_only_outside_the_face() -> None:
    target, pred = _pair((1, 3, 64, 64), torch.float32, 0.1)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1.0
    inside_wrong = target.clone()
    inside_wrong[..., 24:40, 24:40] += 0.3
    _, terms = reconstruction_loss(inside_wrong, mask, target, mask, None, LossWeights())
    assert terms["background"] == 0.0 and terms["l1"] > 0.0
    _, terms = reconstruction_loss(pred, mask, target, mask, None, LossWeights())
    assert terms["background"] > 0.0
