"""The two face formats round-trip through their one writer and one reader: a faceset side
(FacesetWriter -> open_faceset) and a face element (element_image -> read_element)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vfx_double.errors import MediaError, WorkAreaError
from vfx_double.face.align import template_in_crop
from vfx_double.face.element import CHANNELS, element_image, read_element, unpremultiply
from vfx_double.face.faceset import FacesetWriter, open_faceset
from vfx_double.face.matte import hull_mask
from vfx_double.io.exr import Attribute, read_exr, write_exr

SIZE = 32


def test_faceset_writer_and_reader_agree(tmp_path: Path) -> None:
    folder = tmp_path / "faceset" / "v001" / "plate"
    writer = FacesetWriter(folder, "plate", "ACEScct", SIZE, 0.6, padding=4)
    points = template_in_crop(SIZE, 0.6)
    rng = np.random.default_rng(1)
    crops = {}
    for frame in (1001, 1003):
        crops[frame] = rng.random((SIZE, SIZE, 3)).astype(np.float32)
        writer.add(frame, crops[frame], hull_mask(points, SIZE), np.eye(2, 3), points,
                   sharpness=0.5, confidence=0.9, pose=(1.0, -2.0, 3.0))
    writer.skip(1002, "blurred")
    meta = writer.finish(0.5, "track/v001")
    assert meta["skipped"]["blurred"] == 1 and meta["skipped_frames"] == {"blurred": "1002"}
    assert json.loads((folder / "meta.json").read_text()) == meta

    info = open_faceset(folder)
    assert (info.frames, info.size, info.colourspace) == ([1001, 1003], SIZE, "ACEScct")
    np.testing.assert_allclose(info.landmarks[1], points, atol=1e-3)
    crop = read_exr(folder / info.files[1])
    assert crop.channels == ("R", "G", "B", "mask")
    np.testing.assert_allclose(crop.pixels[..., :3], crops[1003], atol=1e-3)  # half float
    assert crop.pixels[SIZE // 2, SIZE // 2, 3] == 1.0 and crop.pixels[0, 0, 3] == 0.0
    # a faceset version is never rewritten
    with pytest.raises(FileExistsError):
        writer.finish(0.5, "track/v001")


def test_faceset_writer_waits_for_its_writes_and_raises_their_error(tmp_path: Path) -> None:
    """Crops are written on a worker thread: finish lists none that failed to write, and
    leaving the block waits for the writes even when the stage failed."""
    points = template_in_crop(SIZE, 0.6)
    crop = np.zeros((SIZE, SIZE, 3), np.float32)
    folder = tmp_path / "plate"
    folder.mkdir()
    (folder / "crop.1002.exr").write_bytes(b"already here")
    # raised by the next add or by finish, whichever comes after the write failed
    with pytest.raises(WorkAreaError, match="crop.1002.exr"):
        with FacesetWriter(folder, "plate", "ACEScct", SIZE, 0.6, padding=4) as writer:
            for frame in (1001, 1002, 1003):
                writer.add(frame, crop, hull_mask(points, SIZE), np.eye(2, 3), points,
                           sharpness=0.5, confidence=0.9, pose=(0.0, 0.0, 0.0))
            writer.finish(0.5, "track/v001")
    assert not (folder / "meta.json").exists()
    assert read_exr(folder / "crop.1001.exr").pixels.shape == (SIZE, SIZE, 4)

    with pytest.raises(RuntimeError, match="stage failed"):
        with FacesetWriter(tmp_path / "actor", "actor", "ACEScct", SIZE, 0.6, 4) as writer:
            (tmp_path / "actor").mkdir()
            writer.add(1001, crop, hull_mask(points, SIZE), np.eye(2, 3), points,
                       sharpness=0.5, confidence=0.9, pose=(0.0, 0.0, 0.0))
            raise RuntimeError("stage failed")
    assert (tmp_path / "actor" / "crop.1001.exr").is_file()


def test_element_writer_and_reader_agree(tmp_path: Path) -> None:
    h, w = 6, 8
    colour = np.full((h, w, 3), 0.25, np.float32)
    alpha = np.ones((h, w), np.float32)
    alpha[:, 0] = 0.5
    matte = np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w)
    pixels = np.concatenate([colour * alpha[..., None], alpha[..., None], matte[..., None]], 2)
    matrix = np.array([[0.5, 0.0, -10.0], [0.0, 0.5, -20.0]])
    common = [Attribute("vfx_double/modelHash", "string", "ab" * 32)]
    path = tmp_path / "face.1001.exr"
    write_exr(path, element_image(1001, pixels, (40, 30, w, h), (0, 0, 200, 100), common,
                                  matrix=matrix, crop_size=256, resolution=64))
    element = read_element(path, 1001)
    assert (element.box, element.face, element.model_hash) == ((40, 30, w, h), True, "ab" * 32)
    # 256 crop pixels at half the plate's scale over a 64 px model: 8 plate px per model px
    assert element.model_pixel == pytest.approx(8.0)
    np.testing.assert_allclose(element.colour(), colour, atol=1e-3)
    np.testing.assert_allclose(element.matte, matte, atol=1e-3)

    empty = tmp_path / "face.1002.exr"
    write_exr(empty, element_image(1002, np.zeros((1, 1, len(CHANNELS))), (0, 0, 1, 1),
                                   (0, 0, 200, 100), common))
    got = read_element(empty, 1002)
    assert (got.face, got.model_pixel) == (False, None)

    pixels[2, 3, 0] = np.nan
    write_exr(path, element_image(1001, pixels, (40, 30, w, h), (0, 0, 200, 100), common,
                                  matrix=matrix, crop_size=256, resolution=64), overwrite=True)
    with pytest.raises(MediaError, match="x=43 y=32"):
        read_element(path, 1001)



def test_unpremultiply_divides_where_covered_and_zeroes_elsewhere() -> None:
    rng = np.random.default_rng(5)
    alpha = rng.uniform(-0.2, 1.0, (40, 30)).astype(np.float32)
    alpha[:4] = 0.0
    rgb = (rng.uniform(0.0, 2.0, (40, 30, 3)) * np.clip(alpha, 0, 1)[..., None]).astype(np.float32)
    out = unpremultiply(rgb, alpha)
    assert out.dtype == np.float32 and out.shape == rgb.shape
    covered = alpha > 0
    # bit for bit the float32 quotient where covered (what the comp has always used)
    assert np.array_equal(out[covered], rgb[covered] / alpha[covered][:, None])
    assert not out[~covered].any()
