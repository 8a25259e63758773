"""CoverageReport.1 on disk: round trip, never overwritten, newer schema refused, baseline;
and the QC plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from vfx_double.errors import TrackingError
from vfx_double.track import coverage_report
from vfx_double.track.coverage import coverage
from vfx_double.track.coverage_plot import plot_coverage

from .synthetic_faces import track

BASELINE = Path(__file__).resolve().parents[1] / "baselines" / "track" / "CoverageReport.1.json"


@pytest.fixture(scope="module")
def report() -> coverage_report.CoverageReport:
    actor = track(list(range(1, 21)), mouth=[i % 10 for i in range(20)], name="actor")
    plate = track(list(range(1001, 1021)), mouth=[5.0] * 10 + [30.0] * 6 + [5.0] * 4,
                  flags={1003: ["no_face"], 1012: ["interpolated"]})
    return coverage(plate, actor)


def test_round_trip(report, tmp_path: Path) -> None:
    report.save(tmp_path / "coverage.json")
    loaded = coverage_report.load(tmp_path / "coverage.json")
    assert loaded.frames == report.frames and loaded.flags == report.flags
    assert loaded.lines() == report.lines()
    assert [r.text for r in loaded.ranges] == [r.text for r in report.ranges]
    np.testing.assert_array_equal(loaded.counted, report.counted)
    for name, values in report.distance.items():
        np.testing.assert_allclose(loaded.distance[name], values, atol=1e-4)
    np.testing.assert_allclose(loaded.pose, report.pose, atol=0.01)
    assert math.isnan(loaded.mouth[2]) and loaded.nearest[2] is None
    data = json.loads((tmp_path / "coverage.json").read_text())
    assert data["schema"] == "CoverageReport.1"
    assert data["summary"]["covered"] == report.covered_count
    assert data["frames"][2]["distance"]["combined"] is None  # JSON has no NaN


def test_never_overwrites(report, tmp_path: Path) -> None:
    report.save(tmp_path / "coverage.json")
    with pytest.raises(FileExistsError):
        report.save(tmp_path / "coverage.json")


def test_newer_schema_and_missing_fields_are_refused(report, tmp_path: Path) -> None:
    report.save(tmp_path / "coverage.json")
    data = json.loads((tmp_path / "coverage.json").read_text())
    (tmp_path / "newer.json").write_text(json.dumps({**data, "schema": "CoverageReport.2"}))
    with pytest.raises(TrackingError, match="newer vfx_double"):
        coverage_report.load(tmp_path / "newer.json")
    del data["frames"][0]["eyes"]
    (tmp_path / "cut.json").write_text(json.dumps(data))
    with pytest.raises(TrackingError, match="missing or malformed 'eyes'"):
        coverage_report.load(tmp_path / "cut.json")
    with pytest.raises(TrackingError, match="vfx-double track"):
        coverage_report.load(tmp_path / "absent.json")


def test_baseline_loads() -> None:
    loaded = coverage_report.load(BASELINE)
    assert loaded.frames == list(range(1001, 1009))
    assert [(r.first, r.last) for r in loaded.ranges] == [(1004, 1007)]
    assert loaded.ranges[0].reasons[0].key == "mouth_above"
    assert loaded.lines()[0] == ("coverage: actor reference covers 2/6 plate frames "
                                 "(1 interpolated not counted; 1 no-face not counted)")


def test_plot(report, tmp_path: Path) -> None:
    path = plot_coverage(report, tmp_path / "qc" / "coverage.png", title="SHOW/sh010")
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] == 1320 and image.shape[0] > 700
    # The uncovered range is shaded: a pale red column inside the top panel.
    assert report.ranges and (image[:, :, 2].astype(int) - image[:, :, 1] > 20).any()
