"""Coverage against known truth on a real clip: lp_d3, actor reference 1001-1236, plate
1237-1354 (the split ``benchmarks/bench_comp_quality.py`` uses for its held-out part).

What the clip shows (measured with ``expression_measures`` on this track and checked by
eye): the plate opens with a frown, the head turned towards image right and the eyes
half shut, all of which the actor part has (1160-1180). The lips stay shut (mouth
opening under 0.02) until 1292, part at 1293-1294, and the mouth opens from 1295 to
about 0.29 by 1309 (a surprised face) and stays above 0.22 to the last frame. The
widest actor mouth is 0.165 (a grimace at 1019): the plate passes it at 1300 and by
more than the tolerance from 1301. An open mouth occurs nowhere in 1001-1236.
"""

from __future__ import annotations

import numpy as np
import pytest

from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.demo.plates import video_to_plates
from vfx_double.io.sequences import FrameSequence
from vfx_double.track import coverage_report
from vfx_double.track.coverage import expression_measures
from vfx_double.track.stage import TrackReport, track_shot

from ..conftest import SHARED_DATA
from ..shots import make_shot

LOGC3 = "ARRI LogC3 (EI800)"
ACTOR, PLATE = (1001, 1236), (1237, 1354)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> TrackReport:
    """One import and one ``track_shot`` of the whole clip (about 45 s on two cores)."""
    if not (SHARED_DATA / "MANIFEST.md").is_file():
        pytest.skip(f"real test data not found at {SHARED_DATA} (see DESIGN.md, Test data)")
    root = tmp_path_factory.mktemp("lp_d3")
    seq = FrameSequence(str(root / "clip" / "lp_d3.####.exr"))
    video_to_plates(SHARED_DATA / "video" / "lp_d3.mp4", seq,
                    colour=ColourConfig.load(DEFAULT_CONFIG), colourspace=LOGC3)
    shot = make_shot(root)
    shot.edit("../../plates/plate.####.exr", seq.pattern)
    shot.edit("[1001, 1005]", f"[{PLATE[0]}, {PLATE[1]}]")
    shot.edit("    path: ../../ref/ref.%04d.exr\n    colourspace: ACEScg",
              f"    path: {seq.pattern}\n    frames: [{ACTOR[0]}, {ACTOR[1]}]\n"
              f"    colourspace: {LOGC3}")
    # The smallest crops: the faceset pass is not what is tested here, and coverage
    # does not depend on the crop size (the shape descriptor is normalised).
    shot.edit("plate:\n", "track:\n  crop_size: 64\nplate:\n")
    shot.approve(seq.pattern)  # the licence names the clip the actor frames come from
    return track_shot(shot.config, keyring=shot.keyring)


def test_the_clip_is_what_the_truth_says(tracked: TrackReport) -> None:
    """The figures the module docstring states, so the truth below is not assumed."""
    plate, actor = tracked.results["plate"], tracked.results["actor"]
    mouth = dict(zip(plate.frames, expression_measures(plate.points).mouth))
    actor_max = np.nanmax(expression_measures(actor.points).mouth)
    assert 0.12 < actor_max < 0.2
    assert max(v for f, v in mouth.items() if f <= 1291 and np.isfinite(v)) < 0.02
    assert min(mouth[f] for f in range(1302, 1355)) > actor_max + 0.05


def test_open_mouth_frames_are_flagged_and_earlier_ones_are_not(tracked: TrackReport) -> None:
    report = tracked.coverage
    assert report is not None
    assert len(report.ranges) == 1
    flagged = report.ranges[0]
    assert 1295 <= flagged.first <= 1301 and flagged.last == 1354
    assert flagged.reasons[0].key == "mouth_above"
    assert flagged.reasons[0].text.startswith("mouth open wider than any actor frame")
    frames = np.asarray(report.frames)
    early = report.counted & (frames < 1295)
    assert early.sum() >= 50 and np.nanmax(report.distance["combined"][early]) < 1.0
    assert not report.uncovered[frames < 1295].any()
    assert report.blips == []


def test_the_record_holds_a_distance_for_every_tracked_plate_frame(tracked: TrackReport) -> None:
    """The comp-quality benchmark rank-correlates these with reconstruction error."""
    loaded = coverage_report.load(tracked.track_dir / "coverage.json")
    plate = tracked.results["plate"]
    assert loaded.frames == plate.frames
    assert np.isfinite(loaded.distance["combined"][plate.valid]).all()
    assert all(n is not None and ACTOR[0] <= n <= ACTOR[1]
               for n, ok in zip(loaded.nearest, plate.valid) if ok)
    lines = tracked.lines()
    assert any(line.startswith("coverage: actor reference covers") for line in lines)
    assert any(line.startswith(f"  uncovered {loaded.ranges[0].first}-1354: mouth open wider")
               for line in lines)
