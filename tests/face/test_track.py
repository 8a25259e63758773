"""TrackResult.1 on disk: round trip, tamper detection, newer schema refused, baseline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vfx_double.errors import TrackingError
from vfx_double.face import track as track_result

BASELINE = Path(__file__).resolve().parents[1] / "baselines" / "track" / "TrackResult.1.json"


def sample(t: int = 3) -> track_result.TrackResult:
    rng = np.random.default_rng(1)
    points = rng.random((t, 68, 2)) * 500
    points[1] = np.nan
    return track_result.TrackResult(
        sequence="plate", source="/plates/p.####.exr", colourspace="ARRI LogC3 (EI800)",
        frame_size=(1920, 1080), frames=list(range(1001, 1001 + t)), points_raw=points,
        points=points + 0.5, boxes=rng.random((t, 4)), confidence=np.array([0.9, 0.0, 0.8][:t]),
        matrices=rng.random((t, 2, 3)), flags=[[], ["no_face"], ["low_confidence"]][:t],
        backend={"name": "mediapipe", "version": "mediapipe 0.10.21"},
        settings={"smoothing": 0.5}, performer={"select": "largest"},
        summary={"frames": t, "found": 2})


def test_round_trip(tmp_path: Path) -> None:
    original = sample()
    original.save(tmp_path / "track.json")
    loaded = track_result.load(tmp_path / "track.json")
    assert loaded.frames == original.frames and loaded.flags == original.flags
    np.testing.assert_allclose(loaded.points, original.points, rtol=1e-6)
    assert np.isnan(loaded.points_raw[1]).all()
    np.testing.assert_array_equal(loaded.matrices, original.matrices)
    assert loaded.valid.tolist() == [True, False, True]
    assert json.loads((tmp_path / "track.json").read_text())["schema"] == "TrackResult.1"


def test_never_overwrites(tmp_path: Path) -> None:
    sample().save(tmp_path / "track.json")
    with pytest.raises(FileExistsError):
        sample().save(tmp_path / "track.json")


def test_swapped_array_file_is_caught(tmp_path: Path) -> None:
    sample().save(tmp_path / "a" / "track.json")
    sample(2).save(tmp_path / "b" / "track.json")
    shutil.copy(tmp_path / "b" / "track.npz", tmp_path / "a" / "track.npz")
    with pytest.raises(TrackingError, match="does not belong"):
        track_result.load(tmp_path / "a" / "track.json")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    sample().save(tmp_path / "track.json")
    data = json.loads((tmp_path / "track.json").read_text())
    data["schema"] = "TrackResult.2"
    (tmp_path / "track.json").write_text(json.dumps(data))
    with pytest.raises(TrackingError, match="newer vfx_double"):
        track_result.load(tmp_path / "track.json")


def test_baseline_loads() -> None:
    loaded = track_result.load(BASELINE)
    assert loaded.frames == [1001, 1002, 1003] and loaded.points.shape == (3, 68, 2)
