"""Pass one decodes only the rows around the face between detections (issue 15): what it
finds is exactly what whole reads find, on the demo's photographed face following a smooth
camera move, when the plan falls short (a tight margin, the face jumping between frames)
and when the face is lost for a frame. Pass two crops from the pixels pass one kept around
the face, the same crops bit for bit as decoding the plate again."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.config import Performer, Track
from vfx_double.demo.plates import build_world, demo_moves, write_demo_sequence, write_plate
from vfx_double.io.exr import read_exr, write_exr
from vfx_double.io.sequences import FrameSequence
from vfx_double.track import kept, rows
from vfx_double.track.backends import get_backend
from vfx_double.track.kept import KeptRegions
from vfx_double.track.run import PassOne, crop_frames, finish, pass_one

LOGC3 = "ARRI LogC3 (EI800)"
SIZE = (960, 540)
FRAMES = list(range(1, 11))
#: rows each frame of the "jumps" plate is moved by: the face leaps ~100 rows between some
#: frames, far past the plan's margin; frame 7 shows no face (the wall alone)
JUMPS = [0, 0, 0, 95, -70, 110, 0, 0, -90, 0]
BLANK = 7


@pytest.fixture(scope="module")
def colour() -> ColourConfig:
    return ColourConfig.load(DEFAULT_CONFIG)


@pytest.fixture(scope="module")
def backend():
    with get_backend("mediapipe") as made:
        yield made


@pytest.fixture(scope="module")
def plates(tmp_path_factory: pytest.TempPathFactory, colour: ColourConfig) -> dict[str, FrameSequence]:
    """The demo's camera move at 960x540 (a ~135 px face), the same frames jumping, and
    the same frames in a data window off the display window's corner."""
    folder = tmp_path_factory.mktemp("plates")
    world = build_world(colour, face_height=SIZE[1] / 4.0)
    move, _ = demo_moves(world, SIZE)
    smooth = FrameSequence(str(folder / "smooth.####.exr"))
    write_demo_sequence(smooth, world, move, FRAMES, SIZE, colour, LOGC3, "test", seed=1)
    jumps = FrameSequence(str(folder / "jumps.####.exr"))
    for frame, shift in zip(FRAMES, JUMPS):
        pixels = read_exr(smooth.path(frame)).pixels
        pixels = np.full_like(pixels, 0.3) if frame == BLANK else np.roll(pixels, shift, axis=0)
        write_plate(jumps.path(frame), pixels, LOGC3, {})
    offset = FrameSequence(str(folder / "offset.####.exr"))
    for frame in FRAMES:
        image = read_exr(smooth.path(frame), dtype=None)
        write_exr(offset.path(frame), image.replace(data_window=(6, 10, *SIZE)))
    return {"smooth": smooth, "jumps": jumps, "offset": offset}


@pytest.fixture(scope="module")
def smooth_whole(plates, colour, backend) -> PassOne:
    return track(plates["smooth"], colour, backend, plan_rows=False)


def track(seq: FrameSequence, colour: ColourConfig, backend, plan_rows: bool,
          kept: KeptRegions | None = None) -> PassOne:
    cfg = SimpleNamespace(track=Track(redetect_every=6))
    return pass_one(seq, FRAMES, LOGC3, colour, backend, cfg, Performer(),  # type: ignore[arg-type]
                    plan_rows=plan_rows, kept=kept)


def assert_same(got: PassOne, expected: PassOne) -> None:
    assert [p is None for p in got.points] == [p is None for p in expected.points]
    for a, b in zip(got.points, expected.points):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    assert got.confidence == expected.confidence and got.sharpness == expected.sharpness
    assert got.others == expected.others and got.windows == expected.windows
    assert (got.chosen, got.chosen_frame, got.frame_size) == (
        expected.chosen, expected.chosen_frame, expected.frame_size)


def test_rows_around_the_face_find_what_whole_frames_find(plates, colour, backend,
                                                          smooth_whole) -> None:
    whole = smooth_whole
    got = track(plates["smooth"], colour, backend, plan_rows=True)
    assert all(p is not None for p in whole.points)
    assert whole.bands == 0
    # frames 1 and 7 are detections, and frame 2 is read before frame 1 is followed
    # (whole); the rest are bands
    assert got.bands >= 6
    assert_same(got, whole)


def test_a_plan_that_falls_short_reads_the_frame_whole(plates, colour, backend, smooth_whole,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows, "MARGIN", -0.2)  # every band misses the crops' edges
    monkeypatch.setattr(rows, "CHUNK", 1)
    got = track(plates["smooth"], colour, backend, plan_rows=True)
    assert got.bands >= 6 and got.misses == got.bands
    assert_same(got, smooth_whole)


def test_a_face_jumping_or_lost_between_frames(plates, colour, backend) -> None:
    whole = track(plates["jumps"], colour, backend, plan_rows=False)
    got = track(plates["jumps"], colour, backend, plan_rows=True)
    assert whole.points[FRAMES.index(BLANK)] is None
    assert sum(p is not None for p in whole.points) >= len(FRAMES) - 3
    assert got.misses >= 1  # frame 4 at least: planned from frames 2 or 3, 95 rows away
    assert_same(got, whole)


def test_the_plan() -> None:
    plan = rows.RowPlan(1080, redetect_every=12)
    assert plan.rows(1) is None, "nothing seen yet: whole"
    plan.seen(0, (200, 500))
    top, bottom = plan.rows(1)
    assert top <= 200 - rows.MARGIN * 300 and bottom >= 500 + rows.MARGIN * 300
    assert top % rows.CHUNK == 0 and bottom % rows.CHUNK == 0
    assert plan.rows(12) is None, "a detection frame: whole"
    plan.seen(1, (230, 530))  # moving down 30 rows a frame
    top, bottom = plan.rows(3)
    assert bottom >= 530 + 2 * 30 and top <= 230
    plan.seen(2, None)  # no face: whole until one is seen again
    assert plan.rows(3) is None
    plan.seen(3, (0, 1000))
    assert plan.rows(4) is None, "most of the frame: whole"


def test_a_data_window_off_the_corner(plates, colour, backend, smooth_whole) -> None:
    """Bands are rows of the data window; points come back in display-window pixels."""
    whole = track(plates["offset"], colour, backend, plan_rows=False)
    got = track(plates["offset"], colour, backend, plan_rows=True)
    assert got.bands >= 6 and got.windows[0] == (6, 10, *SIZE)
    assert_same(got, whole)
    for a, b in zip(got.points, smooth_whole.points):
        np.testing.assert_array_equal(a, b + [6, 10])


class Crops:
    """Stands in for the faceset writer: keeps what pass two gives it."""

    def __init__(self) -> None:
        self.crops: dict[int, np.ndarray] = {}
        self.skipped: dict[int, str] = {}

    def add(self, frame: int, crop: np.ndarray, *args, **kwargs) -> None:
        self.crops[frame] = crop

    def skip(self, frame: int, reason: str) -> None:
        self.skipped[frame] = reason


@pytest.mark.parametrize(("name", "margin"), [("offset", kept.MARGIN), ("offset", -0.3),
                                              ("jumps", kept.MARGIN)],
                         ids=["kept", "kept too tight", "face jumping"])
def test_pass_two_crops_from_what_pass_one_kept(plates, colour, backend, tmp_path, name, margin,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The crops made from pass one's kept pixels are those made by decoding the plate
    again; where the smoothed crop's box is not all kept (here: kept too tight, or the
    face jumping) pass two decodes it, and the crop is the same again."""
    monkeypatch.setattr(kept, "MARGIN", margin)
    cfg = SimpleNamespace(track=Track(redetect_every=6))
    seq = plates[name]
    regions = KeptRegions(tmp_path / "plate.raw", cfg.track.crop_size, cfg.track.coverage)
    found = track(seq, colour, backend, plan_rows=True, kept=regions)
    regions.finish()
    result = finish(found, "plate", seq, LOGC3, backend, cfg, Performer(), fps=24.0)  # type: ignore[arg-type]
    got, expected = Crops(), Crops()
    crop_frames(result, found, seq, colour, "ACEScct", cfg, got, kept=regions)  # type: ignore[arg-type]
    crop_frames(result, found, seq, colour, "ACEScct", cfg, expected)  # type: ignore[arg-type]
    assert len(expected.crops) >= 5 and got.skipped == expected.skipped
    assert got.crops.keys() == expected.crops.keys()
    for frame, crop in expected.crops.items():
        np.testing.assert_array_equal(got.crops[frame], crop)
    assert regions.hits + regions.misses == len(expected.crops)
    if margin < 0:
        assert regions.hits == 0
    elif name == "offset":
        assert regions.misses == 0
    regions.close()
    assert not regions.path.exists()


def test_pass_one_keeps_no_more_than_its_limit(plates, colour, backend, tmp_path) -> None:
    """Past the scratch limit nothing more is kept: those crops are decoded again."""
    cfg = SimpleNamespace(track=Track(redetect_every=6))
    seq = plates["offset"]
    first = KeptRegions(tmp_path / "all.raw", cfg.track.crop_size, cfg.track.coverage)
    track(seq, colour, backend, plan_rows=True, kept=first)
    first.finish()
    sizes = sorted(first._regions.items())  # noqa: SLF001 - what each frame kept
    ends = [r.offset + np.prod(r.box[2:]) * 3 * np.dtype(r.dtype).itemsize for _, r in sizes]
    limit = int(ends[2])  # room for the first three frames' regions
    regions = KeptRegions(tmp_path / "some.raw", cfg.track.crop_size, cfg.track.coverage,
                          limit=limit)
    found = track(seq, colour, backend, plan_rows=True, kept=regions)
    regions.finish()
    assert sorted(regions._regions) == [f for f, _ in sizes[:3]]  # noqa: SLF001
    assert regions.path.stat().st_size <= limit
    result = finish(found, "plate", seq, LOGC3, backend, cfg, Performer(), fps=24.0)  # type: ignore[arg-type]
    got, expected = Crops(), Crops()
    crop_frames(result, found, seq, colour, "ACEScct", cfg, got, kept=regions)  # type: ignore[arg-type]
    crop_frames(result, found, seq, colour, "ACEScct", cfg, expected)  # type: ignore[arg-type]
    for frame, crop in expected.crops.items():
        np.testing.assert_array_equal(got.crops[frame], crop)
    assert regions.hits <= 3 and regions.misses >= len(expected.crops) - 3
    first.close()
    regions.close()
