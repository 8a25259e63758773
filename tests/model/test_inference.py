"""The scripted performer -> actor path matches eager and shares the trained weights."""

from __future__ import annotations

import io

import pytest
import torch

from vfx_double.model.inference import SwapModule, script
from vfx_double.model.networks import FaceModel, ModelSpec

# torch 2.x deprecates TorchScript, but the Nuke export (Nuke's bundled libtorch) needs it
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:DeprecationWarning")

SPEC = ModelSpec(resolution=64, encoder_dims=4, inter_dims=16, decoder_dims=4, disc_dims=0)


def test_swap_module_is_the_actor_path() -> None:
    torch.manual_seed(0)
    model = FaceModel(SPEC)
    swap = SwapModule(model)
    assert swap.encoder is model.encoder and swap.decoder is model.decoder_actor
    x = torch.rand(2, 3, 64, 64)
    out = swap(x)
    rgb, mask = model(x, "actor")
    assert out.shape == (2, 4, 64, 64)
    torch.testing.assert_close(out, torch.cat([rgb, mask], 1), rtol=0, atol=0)
    performer_rgb, _ = model(x, "performer")
    assert not torch.allclose(out[:, :3], performer_rgb)


def test_script_matches_eager_and_round_trips() -> None:
    torch.manual_seed(1)
    model = FaceModel(SPEC)
    scripted = script(model)
    assert isinstance(scripted, torch.jit.ScriptModule)
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        eager = SwapModule(model)(x)
        torch.testing.assert_close(scripted(x), eager, rtol=0, atol=1e-6)
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
        torch.testing.assert_close(loaded(x), eager, rtol=0, atol=1e-6)
    assert model.training  # exporting must not flip the training model into eval mode


def test_script_follows_later_training() -> None:
    model = FaceModel(SPEC)
    swap = SwapModule(model)
    x = torch.rand(1, 3, 64, 64)
    before = swap(x).detach().clone()
    with torch.no_grad():
        model.decoder_actor.rgb.bias.add_(1.0)
    torch.testing.assert_close(swap(x).detach()[:, :3], before[:, :3] + 1.0)


def test_scripted_rejects_wrong_size() -> None:
    scripted = script(FaceModel(SPEC))
    with pytest.raises(Exception, match=r"expected \(B, 3, 64, 64\), got \[1, 3, 32, 32\]"):
        scripted(torch.rand(1, 3, 32, 32))
