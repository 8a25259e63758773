"""Plain progress lines for logs: the interval, the recent rate, the end line."""

import io

from vfx_double.progress import PlainProgress, stage_progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_interval_with_the_recent_rate_and_time_left() -> None:
    out, clock = io.StringIO(), Clock()
    with PlainProgress(1000, "train SH010", "step", every=30, out=out, clock=clock) as bar:
        for _ in range(10):  # a slow start: 10 steps in the first 30 s
            clock.now += 3.0
            bar.update(1)
        for _ in range(240):  # then 8 steps a second
            clock.now += 0.125
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert lines[0] == "train SH010: 10/1000 steps (1%), 0.33 steps/s recently, 49m30s left"
    # the next interval reports its own rate, not the run's average (about 4.2)
    assert lines[1] == "train SH010: 250/1000 steps (25%), 8.00 steps/s recently, 1m34s left"
    assert lines[-1] == "train SH010: 250/1000 steps in 1m00s"
    assert len(lines) == 3


def test_quiet_when_shorter_than_one_interval_and_counts_without_a_total() -> None:
    out, clock = io.StringIO(), Clock()
    with PlainProgress(0, "validate a.yaml", every=30, out=out, clock=clock) as bar:
        clock.now += 5
        bar.update(12)
    assert out.getvalue() == ""
    with PlainProgress(0, "validate a.yaml", every=30, out=out, clock=clock) as bar:
        clock.now += 31
        bar.update(40)
    assert out.getvalue().splitlines()[0] == "validate a.yaml: 40 frames, 1.29 frames/s recently"


def test_stage_progress_passes_a_unit_other_than_frames() -> None:
    made = []

    def factory(total, desc, unit="frame"):
        made.append((total, desc, unit))
        return PlainProgress(total, desc, unit, out=io.StringIO())

    with stage_progress(factory, 5, "train X", unit="step") as update:
        update(1)
    with stage_progress(factory, 5, "render X") as update:
        update(1)
    assert made == [(5, "train X", "step"), (5, "render X", "frame")]
