"""The ``slurm`` backend (issue 12): its sbatch scripts, read and run without Slurm, the
refusal when no controller answers, and the demo shot run to comp on a real single-node
Slurm cluster (``slurm_cluster.py``), its training task signalled, requeued and resumed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pipeline import openjd, slurm
from pipeline.backends import RunOptions
from pipeline.graph import CONFIG, JobGraph, StepSpec
from pipeline.submit import Job, prepare
from vfx_double.errors import ConfigError

from .slurm_cluster import ClusterError, SlurmCluster, missing_programs


CHUNKS = ("1001-1010", "1011-1020", "1021-1025")
SPAN = {"frames": "1001-1025", "chunk_size": 10}


def make_job(folder: Path, command: str = "/opt/vd/bin/vfx-double", train_gpus: int = 2) -> Job:
    """A job from a hand-made graph: train on ``train_gpus`` GPUs, render on one."""
    graph = JobGraph("SHOW", "sh020", Path("/shows/SHOW/sh020.yaml"), "run-004", "ab" * 32, (
        StepSpec("track", ("track", CONFIG)),
        StepSpec("train", ("train", CONFIG, "--run", "run-004")
                 + (("--nproc", str(train_gpus)) if train_gpus > 1 else ()),
                 depends_on=("track",), gpus=train_gpus, memory_gib=16),
        StepSpec("render", ("render", CONFIG, "--frames", "{frames}", "--run", "run-004"),
                 chunks=CHUNKS, depends_on=("train",), gpus=1, **SPAN),
        StepSpec("comp", ("comp", CONFIG, "--frames", "{frames}"),
                 chunks=CHUNKS, depends_on=("render",), **SPAN),
    ))
    folder.mkdir(parents=True, exist_ok=True)
    return Job(folder, openjd.template(graph), {
        "ShotConfig": "/shows/SHOW/sh020.yaml", "VfxDouble": command,
        "ConfigSha256": "ab" * 32, "JobDir": str(folder)})


def directives(text: str) -> list[str]:
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith("#SBATCH ")]


# -- scripts ----------------------------------------------------------------------------------

def test_array_step_script(tmp_path: Path) -> None:
    job = make_job(tmp_path / "job-001")
    render = job.steps()[2]
    text = slurm.script(job, render, after=["41"])
    d = directives(text)
    assert "--array=0-2" in d
    assert "--dependency=afterok:41" in d and "--kill-on-invalid-dep=yes" in d
    assert "--gres=gpu:1" in d and "--mem=4096" in d
    assert f"--output={job.logs}/render-%a.log" in d and "--open-mode=append" in d
    assert f"--chdir={job.folder}" in d
    assert "--job-name=SHOW/sh020/job-001/render" in d
    assert "--no-requeue" in d and not any(x.startswith("--signal") for x in d)
    # one case arm per chunk, each the template's own command line for it
    for i, frames in enumerate(job.tasks_of(render)):
        assert f"  {i}) task=({job.shell_command(render, frames)}) ;;" in text
    assert f"export VFX_DOUBLE_TASK_LOG={job.logs}/render-${{SLURM_ARRAY_TASK_ID}}.log" in text
    assert f"export VFX_DOUBLE_CONFIG_SHA256={'ab' * 32}" in text
    assert f"export VFX_DOUBLE_JOB={job.folder}" in text
    assert 'exec "${task[@]}"' in text
    # no GPU, no gres; no chunks, no array
    comp = slurm.script(job, job.steps()[3], after=["42"])
    assert not any(x.startswith("--gres") for x in directives(comp))
    track = slurm.script(job, job.steps()[0])
    assert not any(x.startswith(("--array", "--dependency")) for x in directives(track))
    assert f"--output={job.logs}/track-0.log" in directives(track)


def test_training_script_requeues_and_runs_the_templates_nproc_command(tmp_path: Path) -> None:
    job = make_job(tmp_path / "job-001", train_gpus=2)
    train = job.steps()[1]
    text = slurm.script(job, train, after=["7"])
    d = directives(text)
    assert "--requeue" in d and "--signal=B:USR1@120" in d
    assert "--gres=gpu:2" in d and "--mem=16384" in d and "--dependency=afterok:7" in d
    # several GPUs: the task's own --nproc starts the ranks under torchrun
    assert ("task=(/opt/vd/bin/vfx-double train /shows/SHOW/sh020.yaml --run run-004 "
            "--nproc 2)") in text
    assert "trap 'forward USR1' USR1" in text and 'scontrol requeue "${SLURM_JOB_ID}"' in text
    single = make_job(tmp_path / "job-002", train_gpus=1)
    one = slurm.script(single, single.steps()[1])
    assert "task=(/opt/vd/bin/vfx-double train /shows/SHOW/sh020.yaml --run run-004)" in one


def test_written_scripts_are_valid_bash(tmp_path: Path) -> None:
    job = make_job(tmp_path / "job-001")
    paths = slurm.write_scripts(job, {"track": "1", "train": "2", "render": "3"})
    assert sorted(p.name for p in paths.values()) == [
        "comp.sbatch", "render.sbatch", "track.sbatch", "train.sbatch"]
    for path in paths.values():
        subprocess.run(["bash", "-n", str(path)], check=True)
    assert "--dependency=afterok:3" in directives(paths["comp"].read_text())


FAKE_TRAIN = """#!/bin/bash
# a stand-in for `vfx-double train`: checkpoints and exits 75 on USR1/TERM
echo "fake train $* pid $$ log=$VFX_DOUBLE_TASK_LOG"
trap 'echo "fake train: got $1"; exit 75' USR1
trap 'exit 75' TERM
touch "$READY"
for i in $(seq 1 30); do sleep 0.05; done
exit "${FINISH:-0}"
"""


def run_training_script(tmp_path: Path, *, send: signal.Signals | None,
                        finish: int = 0) -> tuple[int, str, str]:
    """The training step's script run by bash as Slurm would, ``scontrol`` faked."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "vfx-double"
    fake.write_text(FAKE_TRAIN)
    calls = tmp_path / "scontrol.calls"
    (bindir / "scontrol").write_text(f'#!/bin/bash\necho "$@" >> {calls}\n')
    for p in bindir.iterdir():
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    job = make_job(tmp_path / "job-001", command=str(fake), train_gpus=1)
    path = slurm.write_scripts(job)["train"]
    ready = tmp_path / "ready"
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", SLURM_JOB_ID="4242",
               READY=str(ready), FINISH=str(finish))
    proc = subprocess.Popen(["bash", str(path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if send is not None:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(send)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out, calls.read_text() if calls.exists() else ""


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM], ids=["USR1", "TERM"])
def test_training_script_forwards_the_signal_and_requeues(tmp_path: Path, sig) -> None:
    code, out, calls = run_training_script(tmp_path, send=sig)
    assert f"SIG{sig.name[3:]}: forwarded" in out
    assert "fake train: got" in out or sig == signal.SIGTERM
    assert calls.split() == ["requeue", "4242"], out
    assert code == 0, out
    assert f"log={tmp_path}/job-001/logs/train-0.log" in out


@pytest.mark.parametrize("finish", [0, 3])
def test_training_script_without_a_signal_passes_the_exit_status(tmp_path: Path, finish) -> None:
    code, out, calls = run_training_script(tmp_path, send=None, finish=finish)
    assert code == finish, out
    assert calls == ""


def test_unreachable_controller_is_one_config_error_and_submits_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=dead\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=9\n"
                    f"AuthType=auth/munge\nAuthInfo=socket={tmp_path}/no.socket\n"
                    "NodeName=x NodeAddr=127.0.0.1 CPUs=1\n"
                    "PartitionName=debug Nodes=x Default=YES\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    # sbatch, were it reached, would leave a trace
    bindir = tmp_path / "bin"
    bindir.mkdir()
    trace = tmp_path / "sbatch.calls"
    sbatch = bindir / "sbatch"
    sbatch.write_text(f'#!/bin/bash\necho "$@" >> {trace}\necho 99\n')
    sbatch.chmod(0o755)
    if shutil.which("scontrol") is None:
        # no Slurm here: a dead controller's answer, as scontrol gives it
        (bindir / "scontrol").write_text(
            '#!/bin/bash\necho "Slurmctld(primary) at localhost is DOWN"; exit 1\n')
        (bindir / "scancel").write_text("#!/bin/bash\nexit 0\n")
        for p in ("scontrol", "scancel"):
            (bindir / p).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    job = make_job(tmp_path / "job-001")
    lines: list[str] = []
    with pytest.raises(ConfigError) as err:
        slurm.run(job, RunOptions(wait=True), lines.append)
    text = str(err.value)
    assert "\n" not in text and f"SLURM_CONF={conf}" in text and "DOWN" in text
    assert "nothing was submitted" in text
    assert not trace.exists() and lines == []
    assert slurm.submitted(job) == {} and not (job.folder / "slurm").exists()
    # through the CLI: one line, exit 2, and not even a job folder in the shot's work area
    from tests.shots import make_shot
    from vfx_double.cli import main

    shot = make_shot(tmp_path / "shot")
    assert main(["run", str(shot.config), "--backend", "slurm"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nothing was submitted" in err
    assert not (shot.root / "work" / "SHOW" / "sh010" / "farm").exists()
    assert not trace.exists()


def test_slurm_conf_naming_no_file_is_a_config_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("sbatch", "scontrol", "scancel"):   # present or not, never reached
        (tmp_path / name).write_text("#!/bin/bash\nexit 9\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "nowhere.conf"))
    with pytest.raises(ConfigError, match="no such file.*nothing was submitted"):
        slurm.submit(make_job(tmp_path / "job-001"))


def test_missing_slurm_commands_are_a_config_error(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="Slurm client commands"):
        slurm.check_reachable()


def test_array_state_from_scontrol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert slurm._indices("1,3,5-6%2") == [1, 3, 5, 6]
    (tmp_path / "scontrol").write_text(
        "#!/bin/bash\n"
        "echo 'JobId=11 ArrayJobId=10 ArrayTaskId=0 JobName=a/b JobState=COMPLETED "
        "Reason=None Requeue=0 Restarts=0 StartTime=2026-01-01T10:00:00 "
        "EndTime=2026-01-01T10:00:09 ExitCode=0:0'\n"
        "echo 'JobId=10 ArrayJobId=10 ArrayTaskId=1-2 JobName=a/b JobState=PENDING "
        "Reason=Resources Requeue=0 Restarts=0 StartTime=Unknown EndTime=Unknown'\n")
    (tmp_path / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    s = slurm.step_state("render", "10")
    assert {i: t.state for i, t in s.tasks.items()} == {
        0: "COMPLETED", 1: "PENDING", 2: "PENDING"}
    assert s.tasks[0].end == "2026-01-01T10:00:09" and s.tasks[1].reason == "Resources"
    assert not s.done and not s.completed and s.summary() == "COMPLETED 1, PENDING 2"


# -- the real cluster -------------------------------------------------------------------

@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A single-node Slurm cluster on 127.0.0.1 (SLURM_CONF exported while it runs).
    Fails, with the daemons' logs, when it does not come up; skips only off CI on a machine
    without Slurm or root."""
    why = None
    if missing_programs():
        why = (f"Slurm not installed ({', '.join(missing_programs())}; "
               "apt-get install slurm-wlm munge)")
    elif os.geteuid() != 0:
        why = "the single-node Slurm cluster needs root (slurmd, munged)"
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"{why}: CI must run the Slurm integration test (.ci/run installs it)")
        pytest.skip(why)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except ClusterError as err:
        pytest.fail(str(err))
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    yield cluster
    if before is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = before
    cluster.stop()


TRAIN_STEPS = 30
CHECKPOINT_EVERY = 5


def test_demo_runs_to_review_on_slurm_with_training_requeued(
        slurm_cluster: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vfx_double.demo import shot as demo_shot

    shot = demo_shot.build(tmp_path / "demo", frames=4, train_steps=TRAIN_STEPS)
    with open(shot.config, "a") as f:      # the demo writes "train:\n  steps: N" last
        f.write(f"  checkpoint_every: {CHECKPOINT_EVERY}\nfarm:\n  chunk_size: 2\n")
    monkeypatch.setenv("VFX_DOUBLE_KEYRING", str(shot.keyring))   # sbatch exports it
    monkeypatch.setenv("VFX_DOUBLE_SIGNING", str(shot.signing))   # review signs with it
    job = prepare(shot.config, backend="slurm")
    run_dir = shot.root / "work" / "DEMO" / "sh010" / "train" / "run-001"

    # Once training has written its first checkpoint, Slurm signals its batch shell as
    # --signal=B:USR1 would before a time limit.
    signalled: list[str] = []

    def signal_training() -> None:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            ids = slurm.submitted(job)
            if "train" in ids and (run_dir / "checkpoints").is_dir() and any(
                    (run_dir / "checkpoints").glob("step-*")):
                done = slurm_cluster.client("scancel", "--signal=USR1", "--batch", ids["train"])
                signalled.append(f"{done.returncode} {done.stderr.strip()}")
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=signal_training, daemon=True)
    watcher.start()
    lines: list[str] = []
    code = slurm.run(job, RunOptions(wait=True), lines.append)
    watcher.join(timeout=5)
    log = "\n".join(lines)
    assert code == 0, log
    assert signalled == ["0 "], signalled

    # every step COMPLETED, every array task too
    states = {s.step: s for s in slurm.state(job)}
    assert sorted(states) == ["comp", "render", "review", "track", "train"]
    assert len(states["render"].tasks) == len(states["comp"].tasks) == 2   # arrays of 2
    for s in states.values():
        assert s.completed, (s, log)
        assert len(s.tasks) == len(job.tasks_of(next(x for x in job.steps()
                                                     if x["name"] == s.step)))
    # training was requeued by its script, and the requeued job resumed the run
    assert states["train"].tasks[0].restarts >= 1, states["train"]
    shown = slurm_cluster.client("scontrol", "show", "job", "--oneliner",
                                 states["train"].job_id).stdout
    assert re.search(r"\bRestarts=[1-9]", shown) and "Requeue=1" in shown, shown
    print(shown)   # the evidence, with pytest -s
    train_log = (job.logs / "train-0.log").read_text()
    assert "SIGUSR1: forwarded to the training task" in train_log, train_log
    review = shot.root / "work" / "DEMO" / "sh010" / "review" / "v001"
    assert (review / "report.json").is_file(), log
    assert "requeueing job" in train_log, train_log
    stopped = re.search(r"steps: 0 -> (\d+) of %d \(stopped by a signal" % TRAIN_STEPS,
                        train_log)
    assert stopped, train_log
    resumed = re.search(r"steps: (\d+) -> %d of %d\n" % (TRAIN_STEPS, TRAIN_STEPS), train_log)
    assert resumed and int(resumed.group(1)) == int(stopped.group(1)) > 0, train_log
    assert "restart 1 on" in train_log

    comp = shot.root / "work" / "DEMO" / "sh010" / "comp" / "v001"
    frames = sorted(p.name for p in comp.glob("*.exr"))
    assert len(frames) == 4 and all(str(f) in " ".join(frames) for f in range(1001, 1005)), frames
    # every task's log exists, named by step and index
    for step in job.steps():
        for i in range(len(job.tasks_of(step))):
            assert (job.logs / f"{step['name']}-{i}.log").is_file()
    # status reads the job's state back from the cluster, and the stages' cost records
    from pipeline.runs import job_status
    from vfx_double.config import load
    from vfx_double.status import shot_status

    farm = job_status(load(shot.config))
    assert farm["backend"] == "slurm" and farm["slurm"]["train"] == "COMPLETED", farm
    assert farm["slurm"]["render"] == "COMPLETED 2", farm
    train = next(x for x in shot_status(shot.config).stages if x.stage == "train")
    # stopped by the signal (exit 75, not a failure), then resumed to its end
    assert (train.cost.tasks, train.cost.stopped, train.cost.failed) == (2, 1, 0), train.cost
    assert train.cost.failed_frames == [] and train.cost.last_error == ""
