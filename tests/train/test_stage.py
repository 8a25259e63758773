"""`vfx-double train` end to end on the demo faceset: run folder, exact resume after
SIGKILL, SIGTERM / SIGUSR1 checkpoint + exit 75, licence and binding checks, DDP on gloo."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vfx_double.cli import main
from vfx_double.demo import shot as demo_shot
from vfx_double.model.checkpoint import latest_checkpoint
from vfx_double.track.stage import track_shot

STEPS = 120
MICRO = """
train:
  resolution: 64
  encoder_dims: 4
  inter_dims: 16
  decoder_dims: 4
  disc_dims: 4
  batch_size: 2
  checkpoint_every: 20
  preview_every: 60
"""


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> demo_shot.DemoShot:
    demo = demo_shot.build(tmp_path_factory.mktemp("train"), frames=4)
    with open(demo.config, "a") as cfg:
        cfg.write(MICRO)
    track_shot(demo.config, keyring=demo.keyring)
    return demo


def cli(shot: demo_shot.DemoShot, *args: str) -> subprocess.Popen:
    env = {**os.environ, "VFX_DOUBLE_KEYRING": str(shot.keyring)}
    return subprocess.Popen([sys.executable, "-m", "vfx_double.cli", "train", str(shot.config), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def runs(shot: demo_shot.DemoShot) -> Path:
    return shot.root / "work" / "DEMO" / "sh010" / "train"


def final_weights(run: Path, step: int = STEPS) -> str:
    data = (run / "checkpoints" / f"step-{step:09d}" / "weights.safetensors").read_bytes()
    return hashlib.sha256(data).hexdigest()


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"training ended before {path.name}: {proc.communicate()}"
        assert time.monotonic() < end, f"no {path} after {timeout} s"
        time.sleep(0.005)


def start(shot: demo_shot.DemoShot) -> tuple[subprocess.Popen, Path]:
    """Start a fresh training run; return the process and the run folder it made."""
    before = set(runs(shot).iterdir()) if runs(shot).exists() else set()
    proc = cli(shot, "--steps", str(STEPS))
    deadline = time.monotonic() + 60
    while True:
        new = sorted(set(runs(shot).iterdir()) - before) if runs(shot).exists() else []
        if new:
            return proc, new[0]
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.005)


@pytest.fixture(scope="module")
def uninterrupted(shot) -> Path:
    proc = cli(shot, "--steps", str(STEPS))
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return sorted(runs(shot).iterdir())[-1]


def test_run_folder(uninterrupted: Path) -> None:
    options = json.loads((uninterrupted / "options.json").read_text())
    assert options["schema"] == "TrainOptions.1" and options["binding"]["licence_id"].startswith("DEMO-")
    lines = [json.loads(x) for x in (uninterrupted / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == list(range(10, STEPS + 1, 10))
    assert lines[-1]["total"] < lines[0]["total"], "the loss should fall"
    # each line's recent rate is its own window's, not the run's running average
    assert all(x["recent_images_per_second"] > 0 for x in lines)
    assert len({x["recent_images_per_second"] for x in lines}) > 1
    assert sorted(p.name for p in (uninterrupted / "previews").iterdir()) == [
        "step-000000060.png", "step-000000120.png"]
    assert list((uninterrupted / "tensorboard").glob("events.out.tfevents.*"))
    kept = sorted(p.name for p in (uninterrupted / "checkpoints").iterdir())
    assert kept == ["step-000000080", "step-000000100", "step-000000120"]


def test_resume_after_sigkill_is_bit_exact(shot, uninterrupted: Path) -> None:
    proc, run = start(shot)
    wait_for(run / "checkpoints" / "step-000000040", proc)
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "checkpoints" / f"step-{STEPS:09d}").exists(), "killed too late to test"
    resumed = cli(shot, "--steps", str(STEPS), "--resume")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert final_weights(run) == final_weights(uninterrupted)
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)), "metrics past the checkpoint were dropped on resume"


def test_sigterm_checkpoints_and_exits_for_a_retry(shot, uninterrupted: Path) -> None:
    # A farm engine must retry or requeue a stopped task, never start render on it: exit
    # 75 (issue 12), where it exited 0. The run records its target, so the retry's command
    # line needs no --steps.
    proc, run = start(shot)
    wait_for(run / "checkpoints" / "step-000000020", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    assert "stopped by a signal" in out
    latest = json.loads((run / "latest").read_text())
    assert 20 <= latest["step"] < STEPS
    assert json.loads((run / "options.json").read_text())["steps"] == STEPS
    resumed = cli(shot, "--resume")
    assert resumed.communicate(timeout=600) and resumed.returncode == 0
    assert final_weights(run) == final_weights(uninterrupted)


def test_review_and_farm_edits_do_not_stop_a_resume(shot, uninterrupted: Path) -> None:
    # Only what changes the model is bound: dailies and farm settings may change mid-run.
    original = shot.config.read_text()
    proc, run = start(shot)
    wait_for(run / "checkpoints" / "step-000000020", proc)
    proc.send_signal(signal.SIGUSR1)  # Slurm's --signal=B:USR1 ahead of a time limit
    assert proc.communicate(timeout=120) and proc.returncode == 75
    try:
        shot.config.write_text(original + "review:\n  fps: 48.0\nfarm:\n  chunk_size: 5\n")
        resumed = cli(shot, "--steps", str(STEPS), "--resume")
        out, err = resumed.communicate(timeout=600)
        assert resumed.returncode == 0, err
    finally:
        shot.config.write_text(original)
    assert final_weights(run) == final_weights(uninterrupted)


def test_resume_refuses_a_changed_config(shot, uninterrupted: Path, capsys) -> None:
    original = shot.config.read_text()
    try:
        shot.config.write_text(original.replace("encoder_dims: 4", "encoder_dims: 8"))
        code = main(["train", str(shot.config), "--resume", "--keyring", str(shot.keyring)])
        assert code == 2
        assert "start a new run" in capsys.readouterr().err
    finally:
        shot.config.write_text(original)


def test_licence_without_train_is_refused(shot, capsys, tmp_path: Path) -> None:
    from vfx_double import licence
    from vfx_double.keyring import load_keyring

    keyring = tmp_path / "ring"
    shutil.copytree(shot.keyring, keyring)
    saved = shot.licence.read_bytes()
    lic = licence.verify(shot.licence, load_keyring(keyring))
    try:
        shot.licence.unlink()
        licence.issue(licence.Licence(**{**lic.__dict__, "uses": ("render", "film")}),
                      shot.root / "keys" / "demo-issuer.key", shot.licence)
        code = main(["train", str(shot.config), "--keyring", str(keyring), "--steps", "1"])
        assert code == 2 and "uses" in capsys.readouterr().err
    finally:
        shot.licence.unlink()
        shot.licence.write_bytes(saved)


def test_ddp_two_processes_on_gloo(shot) -> None:
    env = {**os.environ, "VFX_DOUBLE_KEYRING": str(shot.keyring)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
         "-m", "vfx_double.cli", "train", str(shot.config), "--steps", "40", "--device", "cpu"],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = sorted(runs(shot).iterdir())[-1]
    options = json.loads((run / "options.json").read_text())
    assert options["world_size"] == 2
    # check_ranks_in_sync ran at each checkpoint (20, 40) and would have failed the run.
    assert (run / "checkpoints" / "step-000000040").is_dir()


def test_nproc_turns_a_signal_into_one_checkpoint_exit_75_and_resumes(shot) -> None:
    """`train --nproc 2` (a farm task's command on a 2-GPU host; gloo on CPU here): SIGTERM
    to it stops both ranks at one checkpoint and it exits 75 (torchrun alone would say 1),
    and the run resumes from there under --nproc."""
    run = runs(shot) / "run-070"
    launched = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # a target far enough that the signal lands mid-run however fast the machine is
    first = cli(shot, "--run", "run-070", "--steps", "2000", "--nproc", "2", "--device", "cpu")
    deadline = time.monotonic() + 300
    while not (run / "metrics.jsonl").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 75, err[-2000:]
    checkpoint = latest_checkpoint(run)
    stopped = json.loads((checkpoint / "state.json").read_text())["step"]
    assert 0 < stopped < 2000
    assert json.loads((run / "options.json").read_text())["world_size"] == 2
    target = stopped + 10
    again = cli(shot, "--run", "run-070", "--steps", str(target), "--nproc", "2",
                "--device", "cpu")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-2000:]
    assert f"steps: {stopped} -> {target} of {target}" in out
    # the launcher and each rank leave a task record; the launcher's leaves the ranks' CPU
    # time to theirs (not counted twice)
    records = [json.loads(p.read_text()) for p in
               (shot.root / "work" / "DEMO" / "sh010" / "tasks").glob("train-*.json")]
    stopped_records = [r for r in records if r["exit"] == 75 and r["started"] >= launched]
    assert len(stopped_records) == 3, stopped_records  # the launcher and two ranks
    launcher = next(r for r in stopped_records if r["pid"] == first.pid)
    ranks = [r for r in stopped_records if r["pid"] != first.pid]
    assert launcher["cpu_s"] < min(r["cpu_s"] for r in ranks)


def fresh_run(shot: demo_shot.DemoShot, steps: int = 20) -> Path:
    proc = cli(shot, "--steps", str(steps))
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return sorted(runs(shot).iterdir())[-1]


def test_resume_refuses_a_run_whose_only_checkpoint_is_damaged(shot, capsys) -> None:
    run = fresh_run(shot)
    weights = run / "checkpoints" / "step-000000020" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    code = main(["train", str(shot.config), "--resume", "--steps", "40",
                 "--keyring", str(shot.keyring)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{run.name}/checkpoints" in err and "none complete" in err
    assert "step-000000020/weights.safetensors: expected sha256" in err
    assert "start a new run without --resume" in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_resume_before_the_first_checkpoint_never_replaces_the_metrics(shot, capsys) -> None:
    run = fresh_run(shot)
    shutil.rmtree(run / "checkpoints")  # as if killed before its first save
    (run / "latest").unlink()
    metrics = (run / "metrics.jsonl").read_bytes()
    code = main(["train", str(shot.config), "--resume", "--steps", "20",
                 "--keyring", str(shot.keyring)])
    err = capsys.readouterr().err
    assert code == 2 and "killed before its first checkpoint" in err, err
    assert "start a new run without --resume" in err
    assert (run / "metrics.jsonl").read_bytes() == metrics
    # With no history to lose, the resume starts the run at step 0.
    (run / "metrics.jsonl").unlink()
    proc = cli(shot, "--steps", "20", "--resume")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "steps: 0 -> 20" in out and (run / "checkpoints" / "step-000000020").is_dir()


def test_a_named_run_is_started_by_the_first_task_and_continued_by_a_retry(shot, capsys) -> None:
    # issue 12: one command line for the first training task and its retries
    args = ["train", str(shot.config), "--run", "run-050", "--steps", "20",
            "--keyring", str(shot.keyring)]
    assert main(args) == 0
    out = capsys.readouterr().out
    run = runs(shot) / "run-050"
    assert "steps: 0 -> 20" in out and (run / "checkpoints" / "step-000000020").is_dir()
    assert main(["train", str(shot.config), "--run", "run-050", "--steps", "40",
                 "--keyring", str(shot.keyring)]) == 0
    assert "steps: 20 -> 40" in capsys.readouterr().out
    assert main(["train", str(shot.config), "--run", "latest", "--keyring", str(shot.keyring)]) == 2
    assert "a name like run-003" in capsys.readouterr().err
