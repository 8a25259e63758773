"""Plates as studios deliver them (issue 11, cases 11-15): every compression, tiled,
multi-view channels and offset windows go through validate -> comp keeping every
untouched pixel, channel and attribute; multi-part, mip-mapped and luminance/chroma
plates are refused before any stage runs, naming the frame."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from tests.comp.test_stage import BOX, FRAMES, H, W, set_comp, shot, write_element  # noqa: F401 (shot: the fixture)
from vfx_double.cli import main
from vfx_double.comp.stage import comp_shot
from vfx_double.errors import MediaError
from vfx_double.io.exr import COMPRESSIONS, ExrImage, read_exr, read_header, write_exr

CHANNELS = ("R", "G", "B", "A", "right.R", "right.G", "right.B")  # a stereo pair in one part


def write_plates(shot, compression: str, tile_size=None, window=None) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(7)
    window = window or (0, 0, W, H)
    decoded = {}
    for frame in FRAMES:
        px = rng.uniform(0.05, 0.9, (window[3], window[2], len(CHANNELS))).astype(np.float16)
        path = shot.plate_dir / f"plate.{frame:04d}.exr"
        write_exr(path, ExrImage(pixels=px, channels=CHANNELS, data_window=window,
                                 display_window=(0, 0, W, H),
                                 attributes=[], compression=compression),
                  overwrite=True, tile_size=tile_size)
        decoded[frame] = read_exr(path, dtype=None).pixels
        write_element(shot.render, frame, (0.5, 0.4, 0.3), 1.0, 1.0)
    return decoded


def comp(shot, capsys):
    code = main(["validate", str(shot.config), "--keyring", str(shot.keyring)])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = comp_shot(shot.config, keyring=shot.keyring)
    return out, report


@pytest.mark.parametrize("compression", [*COMPRESSIONS, "dwaa:45"])
def test_every_compression_keeps_untouched_pixels(shot, capsys, compression):
    plates = write_plates(shot, compression)
    set_comp(shot, feather=2, colour_match="none", grain="off")
    said, report = comp(shot, capsys)
    lossy = read_header(shot.plate_dir / "plate.1001.exr").lossy
    assert ("is lossy; zip keeps untouched pixels" in said) == lossy, said
    x, y, w, h = BOX
    margin = 8
    for frame in FRAMES:
        path = report.folder / f"sh010_comp_{report.folder.name}.{frame:04d}.exr"
        header = read_header(path)
        out = read_exr(path, dtype=None)
        assert header.channels == CHANNELS and list(header.channel_formats) == ["half"] * 7
        assert header.compression == ("zip" if lossy else
                                      read_header(shot.plate_dir / f"plate.{frame:04d}.exr")
                                      .compression)
        outside = np.ones((H, W), bool)
        outside[y - margin:y + h + margin, x - margin:x + w + margin] = False
        assert (out.pixels[outside] == plates[frame][outside]).all()
        # the other view is never touched, inside the box too
        assert (out.pixels[..., 4:] == plates[frame][..., 4:]).all()


def test_tiled_plates_are_comped_and_stay_tiled(shot, capsys):
    plates = write_plates(shot, "zip", tile_size=(32, 32), window=(-4, -2, W + 8, H + 4))
    set_comp(shot, feather=2, colour_match="rct", grain="off")
    _, report = comp(shot, capsys)
    path = report.folder / f"sh010_comp_{report.folder.name}.1003.exr"
    assert read_header(path).tile_size == (32, 32)
    out = read_exr(path, dtype=None).pixels
    assert (out[:, :2] == plates[1003][:, :2]).all()  # the overscan columns pass through


def write_special(path, kind: str) -> None:
    pixels = np.full((H, W, 3), 0.5, np.float16)
    spec = oiio.ImageSpec(W, H, 3, oiio.HALF)
    out = oiio.ImageOutput.create("openexr")
    if kind == "multipart":
        assert out.open(str(path), [spec, spec])
        out.write_image(pixels)
        assert out.open(str(path), spec, "AppendSubimage")
        out.write_image(pixels)
    elif kind == "mipmap":  # as a texture tool writes it: OpenImageIO's own oiiotool
        flat = path.with_name("flat.exr")
        write_exr(flat, ExrImage(pixels=pixels, channels=("R", "G", "B"),
                                 data_window=(0, 0, W, H), display_window=(0, 0, W, H),
                                 attributes=[], compression="zip"))
        oiiotool = Path(sys.executable).parent / "oiiotool"
        subprocess.run([str(oiiotool), str(flat), "-otex", str(path)], check=True)
        flat.unlink()
        return
    else:
        spec.channelnames = ("Y", "RY", "BY")
        assert out.open(str(path), spec)
        out.write_image(pixels)
    out.close()


@pytest.mark.parametrize("kind, words", [("multipart", "multi-part file (2 parts)"),
                                         ("mipmap", "mip-mapped file"),
                                         ("lumachroma", "luminance/chroma")])
def test_plates_the_comp_cannot_write_back_are_refused_by_validate(shot, capsys, kind, words):
    write_plates(shot, "zip")
    write_special(shot.plate_dir / "plate.1004.exr", kind)
    if kind == "mipmap":
        assert read_header(shot.plate_dir / "plate.1004.exr").mip_levels > 1
    code = main(["validate", str(shot.config), "--keyring", str(shot.keyring)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "frame 1004" in err and words in err, err
    with pytest.raises(MediaError, match=re.escape(words)):
        comp_shot(shot.config, keyring=shot.keyring)
