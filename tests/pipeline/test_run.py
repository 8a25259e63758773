"""`vfx-double run` and `vfx-double demo` through the local backend on real stages (issue 12,
parts 4, 8 and 9), the task records status sums into cost, and the bad inputs: an unknown
backend, a failing task, a config changed after submission."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from pipeline.submit import open_job, prepare
from tests.shots import MiniShot, make_shot
from vfx_double.cli import main
from vfx_double.demo import shot as demo_shot
from vfx_double.io.sequences import FrameSequence
from vfx_double.status import shot_status
from vfx_double.tasks import read_records

SHOT_DIR = ("work", "DEMO", "sh010")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """The demo (4 frames, 20 training steps, chunks of 2) run by `vfx-double demo`."""
    root = tmp_path_factory.mktemp("demo_run")
    shot = demo_shot.build(root, frames=4, train_steps=20)
    config = shot.config
    config.write_text(config.read_text() + "farm:\n  chunk_size: 2\n")
    lines: list[str] = []
    code = _run_cli(["demo", "--out", str(root), "--frames", "4", "--train-steps", "20"], lines)
    return root, code, "\n".join(lines)


def _run_cli(argv: list[str], lines: list[str]) -> int:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    lines += out.getvalue().splitlines()
    return code


def test_demo_runs_every_stage_through_the_local_backend(demo_run) -> None:
    root, code, out = demo_run
    assert code == 0, out
    shot_dir = root.joinpath(*SHOT_DIR)
    job = open_job(shot_dir / "farm" / "job-001")
    assert job.backend == "local"
    keys = sorted(p.stem for p in job.tasks.glob("*.json"))
    assert keys == ["comp-000", "comp-001", "render-000", "render-001", "review-000",
                    "track-000", "train-000"]
    comp = FrameSequence(str(shot_dir / "comp" / "v001" / "sh010_comp_v001.####.exr"))
    assert comp.missing(range(1001, 1005)) == []
    assert "render 1003-1004: done" in out and "all 7 tasks done" in out
    # the review task signed its movies with the demo's C2PA folder, which the demo's
    # keyring trusts
    review = shot_dir / "review" / "v001"
    assert (review / "report.json").is_file()
    lines: list[str] = []
    assert _run_cli(["verify", "--keyring", str(root / "keyring"),
                     str(review / "sh010_review_v001.mp4")], lines) == 0
    assert "Trusted" in lines[-1], lines
    # the track task ran with its QC sheet, and wrote its output to its own log
    assert "track:" in (job.logs / "track-000.log").read_text()
    assert list((shot_dir / "track" / "v001" / "qc").glob("plate_*.mp4"))


def test_a_rerun_of_a_complete_job_runs_nothing(demo_run) -> None:
    root, _, _ = demo_run
    config = root / "shot_configs" / "DEMO" / "sh010.yaml"
    lines: list[str] = []
    assert _run_cli(["run", str(config)], lines) == 0
    assert "job-001" in lines[-1] and "is complete: nothing to do" in lines[-1]
    assert not (root.joinpath(*SHOT_DIR) / "farm" / "job-002").exists()


def test_status_sums_the_task_records_into_cost(demo_run) -> None:
    root, _, _ = demo_run
    config = root / "shot_configs" / "DEMO" / "sh010.yaml"
    records = read_records(root.joinpath(*SHOT_DIR))
    assert sorted(r["stage"] for r in records) == ["comp", "comp", "render", "render",
                                                   "review", "track", "train"]
    by_stage = {r["stage"]: r for r in records}
    # each task's own process CPU time, and where its log is
    assert by_stage["train"]["cpu_s"] > 1.0 and by_stage["train"]["exit"] == 0
    assert by_stage["track"]["log"].endswith("logs/track-000.log")
    assert by_stage["render"]["job"] == "job-001" and by_stage["render"]["gpus"] == 0
    report = shot_status(config)
    train = next(s for s in report.stages if s.stage == "train")
    assert train.cost is not None and train.cost.tasks == 1
    assert train.cost.cpu_hours == pytest.approx(by_stage["train"]["cpu_s"] / 3600, abs=1e-4)
    assert "step 20 of 20" in train.done
    assert json.loads(report.to_json())["stages"][3]["cost"]["tasks"] == 2  # render
    lines: list[str] = []
    assert _run_cli(["status", str(config), "--json"], lines) == 0
    farm = json.loads("\n".join(lines))["farm"]
    assert (farm["job"], farm["backend"], farm["done"], farm["tasks"]) == ("job-001", "local", 7, 7)


def test_unknown_backend_names_the_valid_ones(tmp_path: Path, capsys) -> None:
    shot = make_shot(tmp_path)
    assert main(["run", str(shot.config), "--backend", "lsf"]) == 2
    err = capsys.readouterr().err
    assert "one of local, deadline, slurm, opencue" in err and "'lsf'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "work" / "SHOW" / "sh010" / "farm").exists()  # nothing submitted


@pytest.fixture
def mini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MiniShot:
    shot = make_shot(tmp_path)
    shot.config.write_text(shot.config.read_text() + "farm:\n  chunk_size: 2\n")
    monkeypatch.setenv("VFX_DOUBLE_KEYRING", str(shot.keyring))
    return shot


def test_a_config_changed_after_submission_is_refused(mini: MiniShot, capsys) -> None:
    job = prepare(mini.config, until="track", backend="local")
    mini.edit("chunk_size: 2", "chunk_size: 3")
    assert main(["run", str(mini.config)]) == 2
    err = capsys.readouterr().err
    assert f"the config {job.name} was submitted with" in err
    assert "changed since: farm.chunk_size: 2 -> 3" in err
    assert not job.tasks.exists()  # nothing ran


def test_a_task_refuses_a_config_changed_since_its_job(mini: MiniShot, capsys,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """What every backend's tasks get: the job environment names the hash at submission."""
    job = prepare(mini.config, backend="slurm")
    for key, value in job.environment().items():
        monkeypatch.setenv(key, value)
    mini.edit("frames: [1001, 1005]", "frames: [1001, 1004]")
    assert main(["comp", str(mini.config), "--frames", "1001-1002"]) == 2
    err = capsys.readouterr().err
    assert "changed since: plate.frames: [1001, 1005] -> [1001, 1004]" in err
    # the refusal is a task record too: status names it
    records = read_records(mini.root / "work" / "SHOW" / "sh010")
    assert records[-1]["exit"] == 2 and "changed since" in records[-1]["error"]


def test_a_failing_stage_task_stops_the_run_and_status_names_it(mini: MiniShot,
                                                                capsys) -> None:
    """The MiniShot's plates are noise: track finds no face and fails; the run stops there
    naming the task and its log, and status shows the failure with its log."""
    code = main(["run", str(mini.config)])
    out = capsys.readouterr().out
    assert code in (1, 2)
    assert "STOPPED: task track failed" in out
    log = mini.root / "work" / "SHOW" / "sh010" / "farm" / "job-001" / "logs" / "track-000.log"
    assert f"log: {log}" in out
    assert "train" not in out.split("STOPPED")[0]  # nothing after track started
    lines = "\n".join(shot_status(mini.config).lines())
    assert f"(log {log})" in lines
    assert main(["status", str(mini.config)]) == 0
    farm = capsys.readouterr().out.splitlines()[-1]
    assert farm == f"  farm     latest job-001 (local): 0/9 tasks done, failed: track (log {log})"
