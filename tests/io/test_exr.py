"""EXR frames: bit-exact pixels, channels by name, typed header, overscan, compression,
corrupt files, atomic writes and the read-ahead sequence iterator."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from vfx_double.errors import MediaError, WorkAreaError
from vfx_double.io.exr import (
    Attribute,
    ExrImage,
    as_float32,
    as_half,
    read_exr,
    read_header,
    take_channels,
    write_exr,
)
from vfx_double.io.sequences import FrameSequence
from vfx_double.io.streaming import iter_sequence, read_ahead_of

W, H = 48, 24
CHANNELS = ("R", "G", "B", "A", "matte.alpha", "Z")


def noise(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 4.0, shape).astype(dtype)


def make_image(dtype: type = np.float16, channels: tuple[str, ...] = CHANNELS,
               seed: int = 0, **kwargs: object) -> ExrImage:
    return ExrImage.full_frame(noise((H, W, len(channels)), dtype, seed), channels, **kwargs)


def frames_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- pixels ------------------------------------------------------------------------------

def test_half_round_trip_is_bit_exact(tmp_path: Path) -> None:
    image = make_image(np.float16)
    flat = image.pixels.reshape(-1)
    flat[:4] = [np.inf, -np.inf, -0.0, np.float16(6.0e-8)]  # specials and a denormal
    write_exr(tmp_path / "a.exr", image)
    back = read_exr(tmp_path / "a.exr", dtype=None)
    assert back.pixels.dtype == np.float16
    assert back.channels == ("R", "G", "B", "A", "Z", "matte.alpha")  # OpenEXR's order
    for name in CHANNELS:
        assert np.array_equal(back.channel(name).view(np.uint16),
                              image.channel(name).view(np.uint16))


def test_float_round_trip_is_bit_exact(tmp_path: Path) -> None:
    image = make_image(np.float32, ("R", "G", "B"))
    image.pixels[0, 0] = [1e-42, 3.4e38, -1.0]
    write_exr(tmp_path / "a.exr", image)
    assert read_header(tmp_path / "a.exr").channel_formats == ("float",) * 3
    back = read_exr(tmp_path / "a.exr", dtype=None)
    assert back.pixels.dtype == np.float32
    assert np.array_equal(back.pixels.view(np.uint32), image.pixels.view(np.uint32))


def test_dtype_conversion_on_read_and_write(tmp_path: Path) -> None:
    image = make_image(np.float32, ("R", "G", "B"))
    write_exr(tmp_path / "h.exr", image, pixel_type="half")
    assert read_header(tmp_path / "h.exr").channel_formats == ("half",) * 3
    as_float = read_exr(tmp_path / "h.exr")  # default float32
    assert as_float.pixels.dtype == np.float32
    assert np.array_equal(as_float.pixels, image.pixels.astype(np.float16).astype(np.float32))
    assert read_exr(tmp_path / "h.exr", dtype="float16").pixels.dtype == np.float16
    with pytest.raises(MediaError, match="float16, float32 or None"):
        read_exr(tmp_path / "h.exr", dtype="uint8")


def test_per_channel_pixel_types(tmp_path: Path) -> None:
    image = make_image(np.float32, ("R", "G", "B", "Z"))
    write_exr(tmp_path / "a.exr", image, pixel_type=["half", "half", "half", "float"])
    assert read_header(tmp_path / "a.exr").channel_formats == ("half", "half", "half", "float")
    back = read_exr(tmp_path / "a.exr", ["Z"], dtype=None)
    assert back.pixels.dtype == np.float32
    assert np.array_equal(back.channel("Z"), image.channel("Z"))


# -- channels by name --------------------------------------------------------------------

def test_extra_channels_by_name(tmp_path: Path) -> None:
    image = make_image(np.float16)
    write_exr(tmp_path / "a.exr", image)
    back = read_exr(tmp_path / "a.exr", dtype="float16")
    assert np.array_equal(back.channel("matte.alpha"), image.channel("matte.alpha"))
    assert np.array_equal(back.channel("Z"), image.channel("Z"))

    subset = read_exr(tmp_path / "a.exr", ["matte.alpha", "R", "Z"], dtype="float16")
    assert subset.channels == ("matte.alpha", "R", "Z")
    assert subset.pixels.shape == (H, W, 3)
    for name in subset.channels:
        assert np.array_equal(subset.channel(name), image.channel(name))

    with pytest.raises(MediaError) as info:
        read_exr(tmp_path / "a.exr", ["depth"])
    assert "depth" in info.value.where and "matte.alpha" in info.value.expected
    assert str(tmp_path / "a.exr") in info.value.where
    with pytest.raises(MediaError, match="one of R, G, B, A, Z, matte.alpha"):
        back.channel("depth")


def test_rgba_adds_opaque_alpha() -> None:
    rgb = make_image(np.float32, ("R", "G", "B"))
    out = rgb.rgba()
    assert out.shape == (H, W, 4)
    assert np.array_equal(out[..., :3], rgb.pixels) and np.all(out[..., 3] == 1.0)
    with_alpha = make_image(np.float32, ("A", "B", "G", "R"))
    assert np.array_equal(with_alpha.rgba()[..., 3], with_alpha.channel("A"))
    assert np.array_equal(with_alpha.rgba()[..., 0], with_alpha.channel("R"))


def test_image_checks_its_shape() -> None:
    with pytest.raises(MediaError, match="shape"):
        ExrImage(np.zeros((4, 4, 3), np.float16), ("R", "G"), (0, 0, 4, 4), (0, 0, 4, 4))
    with pytest.raises(MediaError, match="float16 or float32"):
        ExrImage.full_frame(np.zeros((4, 4, 1), np.uint8), ("Y",))


# -- header ------------------------------------------------------------------------------

def test_attributes_round_trip_with_types(tmp_path: Path) -> None:
    matrix = np.arange(16, dtype=np.float64).reshape(4, 4) / 8
    image = make_image(np.float16, ("R", "G", "B"))
    image.set_attribute("vfx_double/licence_id", "LIC-2026-0042")
    image.set_attribute("vfx_double/synthetic", 1)
    image.set_attribute("vfx_double/mix", 0.75)
    image.set_attribute("worldToCamera", matrix)
    image.set_attribute("vfx_double/bbox", (3, 4, 20, 18), "box2i")
    image.set_attribute("vfx_double/centre", (1.5, -2.5), "float2")
    image.set_attribute("framesPerSecond", (24000, 1001), "rational2i")
    write_exr(tmp_path / "a.exr", image)

    back = read_exr(tmp_path / "a.exr")
    types = {a.name: a.type for a in back.attributes}
    assert back.attribute("vfx_double/licence_id") == "LIC-2026-0042"
    assert types["vfx_double/licence_id"] == "string"
    assert back.attribute("vfx_double/synthetic") == 1 and types["vfx_double/synthetic"] == "int"
    assert back.attribute("vfx_double/mix") == 0.75 and types["vfx_double/mix"] == "float"
    assert back.attribute("worldToCamera") == tuple(matrix.ravel())
    assert types["worldToCamera"] == "matrix"
    assert back.attribute("vfx_double/bbox") == (3, 4, 20, 18)
    assert types["vfx_double/bbox"] == "box2i"
    assert back.attribute("vfx_double/centre") == (1.5, -2.5)
    assert back.attribute("framesPerSecond") == (24000, 1001)
    assert types["framesPerSecond"] == "rational2i"
    assert back.attribute("absent", "default") == "default"

    # A second generation keeps every attribute and type, and nothing OpenImageIO invents.
    write_exr(tmp_path / "b.exr", back)
    again = read_header(tmp_path / "b.exr")
    assert again.attributes == back.attributes
    assert not any(a.name.startswith("oiio:") for a in again.attributes)


def test_set_attribute_needs_a_type_for_tuples() -> None:
    image = make_image(np.float16, ("R",))
    with pytest.raises(MediaError, match="type_str"):
        image.set_attribute("v", (1.0, 2.0))
    with pytest.raises(MediaError, match="OpenImageIO type name"):
        image.set_attribute("v", (1.0, 2.0), "floaty")
    image.set_attribute("n", 1)
    image.set_attribute("n", 2)
    assert [a for a in image.attributes if a.name == "n"] == [Attribute("n", "int", 2)]


def test_overscan_windows_are_kept(tmp_path: Path) -> None:
    data = (-64, -32, W + 128, H + 64)
    pixels = noise((H + 64, W + 128, 4), np.float16)
    image = ExrImage(pixels, ("R", "G", "B", "A"), data, (0, 0, W, H))
    write_exr(tmp_path / "a.exr", image)
    header = read_header(tmp_path / "a.exr")
    assert header.data_window == data and header.display_window == (0, 0, W, H)
    back = read_exr(tmp_path / "a.exr", dtype=None)
    assert back.data_window == data and back.display_window == (0, 0, W, H)
    assert np.array_equal(back.pixels.view(np.uint16), pixels.view(np.uint16))


@pytest.mark.parametrize(("asked", "read_back"), [
    ("zip", "zip"), ("piz", "piz"), ("none", "none"),
    # OpenEXR stores the DWA level only when it is not the default 45
    ("dwaa", "dwaa"), ("dwaa:100", "dwaa:100"), ("dwab:60", "dwab:60"),
])
def test_compression_per_write(tmp_path: Path, asked: str, read_back: str) -> None:
    image = make_image(np.float16, ("R", "G", "B"), compression="piz")
    write_exr(tmp_path / "a.exr", image, compression=asked)
    assert read_header(tmp_path / "a.exr").compression == read_back
    # None keeps what the image carries (as read from its source)
    write_exr(tmp_path / "b.exr", read_exr(tmp_path / "a.exr"))
    assert read_header(tmp_path / "b.exr").compression == read_back


def test_unknown_compression_is_refused(tmp_path: Path) -> None:
    # OpenImageIO itself would quietly write zip instead.
    with pytest.raises(MediaError, match="compression among"):
        write_exr(tmp_path / "a.exr", make_image(), compression="zstd")
    assert not tmp_path.joinpath("a.exr").exists()


# -- bad files ---------------------------------------------------------------------------

@pytest.mark.parametrize("fraction", [0.6, 0.99])
def test_truncated_frame_is_an_error_naming_it(tmp_path: Path, fraction: float) -> None:
    good = tmp_path / "plate.1001.exr"
    write_exr(good, make_image(np.float16))
    data = good.read_bytes()
    bad = tmp_path / "plate.1002.exr"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(MediaError) as info:
        read_exr(bad, frame=1002)
    err = info.value
    assert err.where == f"{bad} (frame 1002)"
    assert "truncated or corrupt" in err.hint and "re-render" in err.hint
    assert err.found
    # found from the layout (the chunk table points past the end of the file) before
    # OpenEXR decodes anything, so its own C library prints no second line, and a
    # header-only check finds it too
    with pytest.raises(MediaError, match="bytes"):
        read_header(bad)
    assert read_header(good).channels == read_exr(good).channels


def test_zero_byte_png_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.exr"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.exr"):
        read_exr(empty)
    png = tmp_path / "png.exr"
    oiio.ImageBuf(oiio.ImageSpec(8, 8, 3, oiio.UINT8)).write(str(tmp_path / "x.png"))
    (tmp_path / "x.png").rename(png)
    with pytest.raises(MediaError, match="found a png file"):
        read_exr(png)
    with pytest.raises(MediaError, match="no such file"):
        read_header(tmp_path / "nope.exr")


# -- atomic writes -----------------------------------------------------------------------

def test_writes_leave_no_temp_files_and_never_clobber(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.exr"
    first = make_image(seed=1)
    write_exr(target, first)
    assert frames_in(tmp_path / "out") == ["a.exr"]
    before = target.read_bytes()
    with pytest.raises(WorkAreaError, match="existing file"):
        write_exr(target, make_image(seed=2))
    assert target.read_bytes() == before
    write_exr(target, make_image(seed=2), overwrite=True)
    replaced = read_exr(target, dtype=None)
    assert np.array_equal(replaced.channel("R"), make_image(seed=2).channel("R"))
    assert frames_in(tmp_path / "out") == ["a.exr"]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    image = make_image()
    image.pixels = image.pixels[:2]  # now too small for its data window: OIIO refuses
    with pytest.raises(MediaError):
        write_exr(tmp_path / "a.exr", image)
    assert frames_in(tmp_path) == []


# -- sequences ---------------------------------------------------------------------------

def write_sequence(folder: Path, frames: range) -> FrameSequence:
    seq = FrameSequence(folder / "plate.####.exr")
    for frame in frames:
        write_exr(seq.path(frame), make_image(seed=frame))
    return seq


def test_iter_sequence_streams_in_order(tmp_path: Path) -> None:
    seq = write_sequence(tmp_path, range(1001, 1007))
    got = [(frame, image) for frame, image in iter_sequence(seq, channels=["Z", "R"], dtype=None)]
    assert [f for f, _ in got] == list(range(1001, 1007))
    for frame, image in got:
        assert image.channels == ("Z", "R")
        assert np.array_equal(image.channel("Z"), make_image(seed=frame).channel("Z"))


def test_iter_sequence_reports_missing_frames_first(tmp_path: Path) -> None:
    seq = write_sequence(tmp_path, range(1001, 1006))
    with pytest.raises(MediaError) as info:
        iter_sequence(seq, frames=range(1000, 1009))  # raises at the call, before reading
    assert info.value.where == seq.pattern
    assert info.value.found == "missing frames 1000, 1006-1008"


def test_iter_sequence_names_the_corrupt_frame(tmp_path: Path) -> None:
    seq = write_sequence(tmp_path, range(1001, 1005))
    data = seq.path(1003).read_bytes()
    seq.path(1003).write_bytes(data[: len(data) // 2])
    seen = []
    with pytest.raises(MediaError) as info:
        for frame, _ in iter_sequence(seq):
            seen.append(frame)
    assert seen == [1001, 1002]
    assert info.value.where == f"{seq.path(1003)} (frame 1003)"


def test_iter_sequence_stops_its_reader_when_abandoned(tmp_path: Path) -> None:
    seq = write_sequence(tmp_path, range(1, 9))
    before = threading.active_count()
    stream = iter_sequence(seq)
    assert next(stream)[0] == 1
    stream.close()
    assert threading.active_count() == before


def test_read_ahead_zero_reads_a_frame_once_the_one_before_is_taken() -> None:
    """The reader of pass one plans each frame's rows from the frames the caller is done
    with: with ``read_ahead=0`` it starts frame i only once the caller has taken frame
    i - 1, so it has finished with frame i - 2 (a deeper queue would read on regardless)."""
    taken: list[int] = []
    started: list[tuple[int, list[int]]] = []

    def read(frame: int) -> int:
        started.append((frame, list(taken)))
        return frame * 10

    stream = read_ahead_of(range(6), read, "test", read_ahead=0)
    for frame, value in stream:
        assert value == frame * 10
        taken.append(frame)
    assert [f for f, _ in started] == list(range(6))
    assert all(frame - 2 in seen for frame, seen in started if frame >= 2)


def test_read_ahead_zero_stops_its_reader_when_abandoned() -> None:
    before = threading.active_count()
    stream = read_ahead_of(range(50), lambda f: f, "test", read_ahead=0)
    assert next(stream) == (0, 0)
    stream.close()
    assert threading.active_count() == before


def test_as_float32_is_numpys_conversion_bit_for_bit() -> None:
    """Every finite half value, and views of plates (channel slices, strided rows)."""
    every = np.arange(65536, dtype=np.uint16).view(np.float16).reshape(256, 64, 4)
    got, want = as_float32(every), every.astype(np.float32)
    finite = np.isfinite(want)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got[finite].view(np.uint32), want[finite].view(np.uint32))
    assert np.isnan(got[np.isnan(want)]).all()
    plate = np.random.default_rng(2).normal(0, 4, (40, 30, 4)).astype(np.float16)
    element = np.random.default_rng(4).normal(0, 4, (20, 30, 5)).astype(np.float16)
    for view in (plate[..., :3], plate[::3, 5:20], plate[..., 1:2], plate[:0], element,
                 element[:, 3:9]):
        np.testing.assert_array_equal(as_float32(view), view.astype(np.float32))
        assert as_float32(view).shape == view.shape


def test_as_half_is_numpys_conversion_bit_for_bit() -> None:
    """Every half, every midpoint between neighbouring halves and the floats either side
    of it (rounding to nearest even), overflow, signed zeros and infinities, any shape."""
    halves = np.arange(65536, dtype=np.uint16).view(np.float16)
    halves = halves[np.isfinite(halves)].astype(np.float64)
    ordered = np.sort(halves)
    mid = ((ordered[:-1] + ordered[1:]) / 2).astype(np.float32)
    edges = np.array([65504, 65519.996, 65520, 1e9, -1e9, 0.0, -0.0, np.inf, -np.inf,
                      2.9802322e-08, 5.96e-8], np.float32)
    values = np.concatenate([halves.astype(np.float32), mid, edges,
                             np.nextafter(mid, np.float32(np.inf)),
                             np.nextafter(mid, np.float32(-np.inf))])
    with np.errstate(over="ignore"):
        want = values.astype(np.float16)
    np.testing.assert_array_equal(as_half(values).view(np.uint16), want.view(np.uint16))
    box = np.random.default_rng(3).normal(0, 3, (33, 21, 5)).astype(np.float32)
    for view in (box, box[..., :3], box[::2, 3:9], box[:0], box[0, 0]):
        got = as_half(view)
        assert got.dtype == np.float16 and got.shape == view.shape
        np.testing.assert_array_equal(got.view(np.uint16), view.astype(np.float16).view(np.uint16))


def test_take_channels_is_a_view_for_a_run_and_a_copy_otherwise() -> None:
    pixels = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    for index, view in (([0, 1, 2], True), ([2, 3, 4, 5], True), ([4], True),
                        ([0, 2, 1], False), ([1, 3], False)):
        got = take_channels(pixels, index)
        np.testing.assert_array_equal(got, pixels[..., index])
        assert np.may_share_memory(got, pixels) is view, index
