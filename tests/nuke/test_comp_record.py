"""CompMatch.1: the numbers comp writes are the ones it applies, and the record reads back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vfx_double.acescct import decode, encode
from vfx_double.comp import colour_match
from vfx_double.comp.record import read_comp_match, read_frame_record
from vfx_double.errors import WorkAreaError

BASELINE = Path(__file__).parent / "golden" / "CompMatch.1" / "match.1001.json"


def stats(seed: int = 0) -> colour_match.FrameStats:
    rng = np.random.default_rng(seed)
    plate = rng.uniform(0.02, 0.6, (400, 3)).astype(np.float32)
    element = (plate * rng.uniform(0.5, 1.5, 3) + rng.normal(0, 0.02, (400, 3))).clip(0.001)
    out = colour_match.measure(plate.reshape(20, 20, 3), element.astype(np.float32)
                               .reshape(20, 20, 3), np.ones((20, 20)))
    assert out is not None
    return out


@pytest.mark.parametrize("mode", ["rct", "gain", "histogram"])
def test_parameters_do_what_apply_does(mode: str) -> None:
    s = stats()
    x = np.random.default_rng(1).uniform(0.005, 2.0, (64, 3)).astype(np.float32)
    want = colour_match.apply(mode, x, s)
    p = colour_match.parameters(mode, s)
    if mode == "gain":
        assert p["space"] == "ACEScg"
        got = x * np.float32(p["multiply"]) + np.float32(p["add"])
    elif mode == "rct":
        assert p["space"] == "ACEScct"
        got = decode(encode(x).astype(np.float64) * p["multiply"] + p["add"])
    else:
        log = encode(x).astype(np.float64)
        got = np.empty_like(log)
        for c in range(3):
            knots = np.array(p["knots"][c])
            y = np.interp(log[:, c], knots[:, 0], knots[:, 1])
            lo, hi = log[:, c] < knots[0, 0], log[:, c] > knots[-1, 0]
            y[lo] = knots[0, 1] + p["slope"][c] * (log[lo, c] - knots[0, 0])
            y[hi] = knots[-1, 1] + p["slope"][c] * (log[hi, c] - knots[-1, 0])
            got[:, c] = y
        got = decode(got)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(want, x, atol=1e-3), "the test's match should change the colour"


def test_the_baseline_reads(tmp_path: Path) -> None:
    shutil.copy(BASELINE, tmp_path / BASELINE.name)
    record = read_comp_match(tmp_path, [1001])[1001]
    assert record["colour_match"]["method"] == "rct" and record["box"] == [703, 348, 254, 282]


def test_a_newer_or_broken_record_is_refused(tmp_path: Path) -> None:
    data = json.loads(BASELINE.read_text())
    (tmp_path / "match.1001.json").write_text(json.dumps({**data, "schema": "CompMatch.2"}))
    with pytest.raises(WorkAreaError, match="newer"):
        read_frame_record(tmp_path, 1001)
    (tmp_path / "match.1001.json").write_text(json.dumps({**data, "frame": 1002}))
    with pytest.raises(WorkAreaError, match="frame 1002"):
        read_frame_record(tmp_path, 1001)
    with pytest.raises(WorkAreaError, match="no such file"):
        read_frame_record(tmp_path, 1003)
