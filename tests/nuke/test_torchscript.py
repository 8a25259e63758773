"""The TorchScript export's contract (issue 13, part 6): what Nuke's Inference node calls,
and, on the demo shot, the same pixels render wrote for the same crop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nuke_plugin.core.torchscript import (CHANNELS_OUT, SCHEMA, NukeSwap, edge_ramp,
                                          export_torchscript, file_format_version)
from vfx_double.demo import shot as demo_shot
from vfx_double.errors import LicenceError
from vfx_double.face import track as track_result
from vfx_double.face.crop import aligned_crop, resize_crop
from vfx_double.face.element import read_element
from vfx_double.io.exr import read_exr
from vfx_double.model.networks import FaceModel
from vfx_double.render.stage import EDGE_FADE, _Renderer, edge_fade, load_model, render_shot
from vfx_double.shot import open_shot
from vfx_double.track.stage import track_shot
from vfx_double.train.presets import PRESETS
from vfx_double.train.stage import train_shot

# torch >= 2.11 deprecates TorchScript for torch.export; Nuke reads TorchScript only
pytestmark = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning")

#: every op the exported graph may name: all are in libtorch 1.6 (Nuke 13) and later. An op
#: outside it (F.interpolate names all its modes' ops, some added in torch 2.x; nn.Conv2d's
#: reflect padding names aten::pad, added after 1.12) would make the file fail to load in an
#: older Nuke, so a new one here needs checking against the Nuke versions the README names.
PORTABLE_OPS = {
    "aten::__getitem__.t", "aten::adaptive_avg_pool2d", "aten::add.Scalar", "aten::add.Tensor",
    "aten::add.str", "aten::arange", "aten::cat", "aten::clamp", "aten::conv2d",
    "aten::div.Scalar", "aten::div.int", "aten::ge.int", "aten::gt.int", "aten::leaky_relu",
    "aten::len.t", "aten::list.t", "aten::min.other", "aten::mul.Scalar", "aten::mul.Tensor",
    "aten::ne.int", "aten::neg", "aten::pixel_shuffle", "aten::reflection_pad2d",
    "aten::sigmoid", "aten::size", "aten::slice.Tensor", "aten::str", "aten::sub.Scalar",
    "aten::to.dtype", "aten::unsqueeze", "aten::upsample_bicubic2d", "aten::upsample_bilinear2d",
    "prim::TupleUnpack",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The demo shot tracked, trained 20 steps and rendered in-process, then exported."""
    root = tmp_path_factory.mktemp("nuke_ts")
    shot = demo_shot.build(root, frames=4, train_steps=20)
    track_shot(shot.config, keyring=shot.keyring)
    train_shot(shot.config, keyring=shot.keyring, device="cpu")
    render = render_shot(shot.config, keyring=shot.keyring, device="cpu")
    export = export_torchscript(shot.config, root / "nuke", keyring=shot.keyring)
    return shot, render, export


@pytest.fixture(scope="module")
def module(demo) -> torch.jit.ScriptModule:
    """The exported file loaded once; tests that change its dtype or device load their own."""
    return _fresh(demo)


def _crop(seed: int, size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, 3, size, size, generator=g) * 0.8 + 0.05).to(dtype)


@pytest.mark.parametrize("size", [64, 256, 48, 100])
def test_output_is_rgb_and_matte_at_the_input_size_in_its_dtype(module, size):
    with torch.no_grad():
        out = module(_crop(0, size))
    assert out.shape == (1, len(CHANNELS_OUT), size, size) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    matte = out[0, 3]
    assert float(matte.min()) >= 0.0 and float(matte.max()) <= 1.0
    # the crop's edge fades to nothing, as render's matte does
    assert float(matte[0].abs().max()) < 0.05 and float(matte[:, -1].abs().max()) < 0.05


def test_knob_attributes_are_plain_top_level_ints(module):
    assert isinstance(module.edge_fade, int) and module.edge_fade == EDGE_FADE
    assert isinstance(module.resolution, int) and module.resolution == 64
    module.edge_fade = 0
    try:
        with torch.no_grad():
            raw = module(_crop(1, 64))[0, 3]
        module.edge_fade = EDGE_FADE
        with torch.no_grad():
            faded = module(_crop(1, 64))[0, 3]
    finally:
        module.edge_fade = EDGE_FADE
    ramp = torch.from_numpy(edge_fade(64))
    assert torch.allclose(faded, raw * ramp, atol=1e-6)
    assert float((raw - faded).abs().max()) > 0.01  # the knob does something


def test_half_input_and_half_module(demo, module):
    x = _crop(2, 128)
    with torch.no_grad():
        full = module(x)
        half_in = module(x.half())  # a float32 module computes a half input in float32
        assert half_in.dtype == torch.float16
        assert float((half_in.float() - full).abs().max()) < 2e-3
        # what Inference's "Optimize for speed and memory" does (on a copy: half weights
        # converted back are not the float32 weights)
        half = _fresh(demo).half()(x.half())
    # CPU conv, pad and resampling kernels all run in half in this torch (2.13)
    assert half.dtype == torch.float16 and torch.isfinite(half).all()
    assert float((half.float() - full).abs().max()) < 2e-2


def test_wrong_input_is_refused(module):
    with pytest.raises(Exception, match=r"expected \(1, 3, H, W\)"):
        module(torch.zeros(1, 4, 64, 64))
    with pytest.raises(Exception, match=r"expected \(1, 3, H, W\)"):
        module(torch.zeros(2, 3, 64, 64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_inputs_device(demo, module):
    x = _crop(3, 128)
    with torch.no_grad():
        want = module(x)
        out = _fresh(demo).cuda()(x.cuda())
        half = _fresh(demo).cuda().half()(x.half().cuda())
    assert out.device == half.device == x.cuda().device
    assert float((out.cpu() - want).abs().max()) < 1e-4
    assert float((half.float().cpu() - want).abs().max()) < 2e-2


def test_graph_names_only_ops_old_nukes_have(module):
    assert set(torch.jit.export_opnames(module)) <= PORTABLE_OPS


def test_sidecar_has_catfilecreator_settings_licence_and_torch_version(demo):
    shot, _, export = demo
    record = json.loads(export.sidecar.read_text())
    assert record == export.record
    assert record["schema"] == SCHEMA and record["synthetic"] is True
    cat = record["catfilecreator"]
    assert cat["torchScriptFile"] == export.torchscript.name
    assert cat["channelsIn"] == "rgba.red, rgba.green, rgba.blue"
    assert cat["channelsOut"] == "rgba.red, rgba.green, rgba.blue, rgba.alpha"
    assert cat["outputScale"] == 1 and cat["modelId"].startswith("DEMO_sh010_run_001")
    assert record["torch_version"] == torch.__version__
    assert record["file_format_version"] == file_format_version(export.torchscript.read_bytes())
    assert [k["name"] for k in record["user_knobs"]] == ["edge_fade"]
    opened = open_shot(shot.config, uses=("render", "use"), keyring=shot.keyring)
    loaded = load_model(opened, device=torch.device("cpu"))
    assert record["licence_id"] == opened.licence.licence_id
    assert record["model_hash"] == loaded.weights_sha256


def test_export_never_replaces_a_file(demo):
    shot, _, export = demo
    with pytest.raises(Exception):
        export_torchscript(shot.config, export.torchscript.parent, keyring=shot.keyring)
    assert json.loads(export.sidecar.read_text()) == export.record


def test_module_equals_renders_model_on_renders_crop(demo, module):
    """Render's own crop (R x R) through the export and through render's model."""
    shot, _, _ = demo
    opened = open_shot(shot.config, uses=("render", "use"), keyring=shot.keyring)
    loaded = load_model(opened, device=torch.device("cpu"))
    renderer, track = _renderer(opened, loaded)
    worst = 0.0
    for frame in track.frames:
        image = read_exr(opened.plate.path(frame), ["R", "G", "B"])
        x = torch.from_numpy(renderer._crop(frame, image)).permute(2, 0, 1)[None]
        with torch.no_grad():
            rgb, mask = loaded.model(x, "actor")
            got = module(x)
        want = torch.cat([rgb, mask * torch.from_numpy(edge_fade(64))], dim=1)
        worst = max(worst, float((got - want).abs().max()))
    assert worst < 1e-5, worst


def test_module_through_renders_warp_equals_the_element_on_disk(demo, module):
    """The export's output, put through render's own crop -> plate step, gives the element
    render wrote (half float on disk), channel by channel."""
    shot, render, _ = demo
    opened = open_shot(shot.config, uses=("render", "use"), keyring=shot.keyring)
    loaded = load_model(opened, device=torch.device("cpu"))
    renderer, track = _renderer(opened, loaded)
    module.edge_fade = 0  # render's _element fades the raw mask itself
    try:
        for frame in track.frames:
            image = read_exr(opened.plate.path(frame), ["R", "G", "B"])
            x = torch.from_numpy(renderer._crop(frame, image)).permute(2, 0, 1)[None]
            with torch.no_grad():
                out = module(x)[0].permute(1, 2, 0).numpy()
            mine = renderer._element(frame, image, out[:, :, :3], out[:, :, 3:])
            element = read_element(render.folder / f"face.{frame:04d}.exr", frame)
            assert mine is not None and element.box == tuple(mine.data_window)
            px = mine.pixels.astype(np.float16).astype(np.float32)
            np.testing.assert_allclose(element.rgb, px[:, :, :3], rtol=2e-3, atol=1e-4)
            np.testing.assert_allclose(element.matte, px[:, :, 4], rtol=2e-3, atol=1e-4)
    finally:
        module.edge_fade = EDGE_FADE


def test_nuke_sized_crop_is_shrunk_as_render_shrinks_it(demo):
    """Nuke feeds the crop at the track's crop size; the module's area shrink to the model's
    resolution is render's resize_crop (cv2 INTER_AREA) for a whole factor."""
    shot, _, _ = demo
    opened = open_shot(shot.config, uses=("render", "use"), keyring=shot.keyring)
    track = track_result.load(opened.require("track") / "track.json")
    size = int(track.settings.get("crop_size", 256))
    image = read_exr(opened.plate.path(track.frames[0]), ["R", "G", "B"])
    crop = aligned_crop(image.pixels, image.data_window, track.matrices[0], size,
                        lambda r: opened.colour.convert(r, opened.spaces.plate,
                                                        opened.spaces.network))
    assert crop is not None and size % 64 == 0
    mine = torch.nn.functional.adaptive_avg_pool2d(
        torch.from_numpy(crop).permute(2, 0, 1)[None], [64, 64])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(mine, resize_crop(crop, 64), atol=1e-5)


def test_edge_ramp_is_renders_edge_fade():
    for size, fade in ((64, 16), (256, 16), (100, 7)):
        got = edge_ramp(size, fade, torch.zeros(1, dtype=torch.float32)).numpy()
        band = size / fade
        centre = np.arange(size) + 0.5
        t = np.clip(np.minimum(centre, size - centre) / band, 0, 1)
        ramp = t * t * (3 - 2 * t)
        np.testing.assert_allclose(got, np.outer(ramp, ramp), atol=1e-6)


def test_scripted_equals_eager_on_an_untrained_model():
    torch.manual_seed(0)
    model = FaceModel(PRESETS["cpu-tiny"].spec).eval()
    eager = NukeSwap(model)
    scripted = torch.jit.script(NukeSwap(model))
    x = _crop(4, 96)
    with torch.no_grad():
        assert torch.allclose(eager(x), scripted(x), atol=1e-6)
        # and the copy is the model's swap: same numbers as the model itself at R
        rgb, mask = model(_crop(5, 64), "actor")
        out = scripted(_crop(5, 64))
    assert torch.allclose(out[:, :3], rgb, atol=1e-6)


def test_licence_without_render_is_refused(tmp_path: Path):
    from tests.shots import issue_licence, make_shot

    shot = make_shot(tmp_path)
    issue_licence(shot.key, shot.licence, uses=("train", "film"))
    with pytest.raises(LicenceError, match="render") as err:
        export_torchscript(shot.config, tmp_path / "out", keyring=shot.keyring)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def _fresh(demo) -> torch.jit.ScriptModule:
    return torch.jit.load(str(demo[2].torchscript), map_location="cpu").eval()


def _renderer(opened, loaded):
    track = track_result.load(opened.require("track") / "track.json")
    renderer = _Renderer(loaded.model, torch.device("cpu"), track, opened.colour,
                         opened.spaces.plate, opened.spaces.network, opened.spaces.working, [])
    return renderer, track
