"""The local backend (issue 12, part 4): an OpenJD template run here with openjd-sessions:
dependency order, N workers, a log per task, a failure summary, a rerun that skips done
tasks, Ctrl-C that stops cleanly. Mechanics on small shell-command jobs; the real stages in
test_run.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline import local
from pipeline.backends import RunOptions
from pipeline.submit import Job, open_job


def shell_job(folder: Path, steps: list[tuple[str, str, list[str] | None, list[str]]]) -> Job:
    """A job of ``(name, shell script, chunks or None, depends_on)`` steps; scripts see
    ``$FRAMES`` (the chunk) and ``$OUT`` (the job folder)."""
    folder.mkdir(parents=True)
    spec = []
    for name, script, chunks, deps in steps:
        step = {"name": name, "script": {"actions": {"onRun": {
            "command": "/bin/sh", "args": ["-c", script, name, "{{Task.Param.Frames}}"
                                           if chunks else "-"]}}}}
        if chunks:
            step["parameterSpace"] = {"taskParameterDefinitions": [
                {"name": "Frames", "type": "STRING", "range": chunks}]}
        if deps:
            step["dependencies"] = [{"dependsOn": d} for d in deps]
        spec.append(step)
    template = {"specificationVersion": "jobtemplate-2023-09", "name": "shell job",
                "parameterDefinitions": [{"name": "JobDir", "type": "STRING", "default": ""}],
                "jobEnvironments": [{"name": "env", "variables": {"OUT": "{{Param.JobDir}}"}}],
                "steps": spec}
    (folder / "template.json").write_text(json.dumps(template))
    (folder / "parameters.json").write_text(json.dumps({"JobDir": str(folder)}))
    return open_job(folder)


def runs_of(job: Job) -> list[str]:
    """What the tasks appended to ``ran.txt``, one line per execution."""
    path = job.folder / "ran.txt"
    return path.read_text().split() if path.exists() else []


def sleepers() -> list[str]:
    """Processes running ``sleep 60`` (the task the Ctrl-C test interrupts)."""
    found = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if path.read_bytes() == b"sleep\x0060\x00":
                found.append(path.parent.name)
        except OSError:
            pass  # ended while we looked
    return found


MARK = 'echo "$0:$1" >> "$OUT/ran.txt"'


def test_steps_run_in_dependency_order_each_task_logged(tmp_path: Path) -> None:
    job = shell_job(tmp_path / "job", [
        ("a", f"{MARK}; echo hello from a", None, []),
        ("b", f"{MARK}; sleep 0.2; echo chunk $1", ["1-2", "3-4", "5-6"], ["a"]),
        ("c", f"{MARK}", None, ["b"]),
    ])
    lines: list[str] = []
    assert local.run(job, RunOptions(workers=3), lines.append) == 0
    ran = runs_of(job)
    assert ran[0] == "a:-" and ran[-1] == "c:-"
    assert sorted(ran[1:4]) == ["b:1-2", "b:3-4", "b:5-6"]
    assert "chunk 3-4" in (job.logs / "b-001.log").read_text()
    assert "hello from a" in (job.logs / "a-000.log").read_text()
    records = {p.stem: json.loads(p.read_text()) for p in job.tasks.glob("*.json")}
    assert set(records) == {"a-000", "b-000", "b-001", "b-002", "c-000"}
    assert all(r["state"] == "done" and r["exit"] == 0 for r in records.values())
    assert lines[-1] == "run: job: all 5 tasks done"


def test_workers_run_chunks_at_once(tmp_path: Path) -> None:
    """Three 1 s chunks on three workers overlap: each starts before another ends."""
    job = shell_job(tmp_path / "job", [
        ("b", 'date +%s.%N >> "$OUT/start.txt"; sleep 1; date +%s.%N >> "$OUT/end.txt"',
         ["1", "2", "3"], []),
    ])
    assert local.run(job, RunOptions(workers=3), lambda _: None) == 0
    starts = [float(x) for x in (job.folder / "start.txt").read_text().split()]
    ends = [float(x) for x in (job.folder / "end.txt").read_text().split()]
    assert max(starts) < min(ends)


def test_a_failed_task_stops_the_run_names_its_log_and_a_rerun_resumes(tmp_path: Path) -> None:
    job = shell_job(tmp_path / "job", [
        ("a", MARK, None, []),
        ("b", f'{MARK}; if [ "$1" = 3-4 ] && [ ! -f "$OUT/fixed" ]; then '
              'echo "vfx-double: error: frame 1003: expected a face" >&2; exit 2; fi',
         ["1-2", "3-4", "5-6"], ["a"]),
        ("c", MARK, None, ["b"]),
    ])
    lines: list[str] = []
    assert local.run(job, RunOptions(workers=1), lines.append) == 2  # the task's bad input
    text = "\n".join(lines)
    assert "task b 3-4 failed with exit status 2" in text
    assert str(job.logs / "b-001.log") in text
    assert "frame 1003: expected a face" in text  # the log's last lines, on the one screen
    assert "done 2 of 5 tasks" in text
    assert runs_of(job) == ["a:-", "b:1-2", "b:3-4"]  # nothing started after the failure
    (job.folder / "fixed").touch()
    lines.clear()
    assert local.run(job, RunOptions(workers=1), lines.append) == 0
    assert runs_of(job) == ["a:-", "b:1-2", "b:3-4", "b:3-4", "b:5-6", "c:-"]
    assert lines[0] == "run: job: 2 of 5 tasks already done, skipped"


def test_ctrl_c_stops_the_running_task_and_a_rerun_continues(tmp_path: Path) -> None:
    job = shell_job(tmp_path / "job", [
        ("a", MARK, None, []),
        # exec: openjd-sessions execs a task's command, so the signal reaches it, as a
        # vfx-double task gets it (a shell in between would leave its child running)
        ("b", f'{MARK}; [ -f "$OUT/quick" ] || exec sleep 60', None, ["a"]),
    ])
    code = ("import sys; from pipeline import local; from pipeline.backends import RunOptions;"
            "from pipeline.submit import open_job; from pathlib import Path;"
            f"sys.exit(local.run(open_job(Path({str(job.folder)!r})), RunOptions(), print))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while runs_of(job) != ["a:-", "b:-"] and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, out
    assert "KeyboardInterrupt" in out
    assert not (job.tasks / "b-000.json").exists()  # not recorded: a rerun runs it again
    assert json.loads((job.tasks / "a-000.json").read_text())["state"] == "done"
    assert not sleepers(), "the task's process was left running"
    (job.folder / "quick").touch()
    assert local.run(open_job(job.folder), RunOptions(), lambda _: None) == 0
    assert runs_of(job) == ["a:-", "b:-", "b:-"]


def test_overhead_environment_reaches_every_task(tmp_path: Path) -> None:
    """The job environment's variables (what stages check the config against) and the
    task's log path reach the command."""
    job = shell_job(tmp_path / "job", [
        ("a", 'echo "out=$OUT log=$VFX_DOUBLE_TASK_LOG"', None, []),
    ])
    assert local.run(job, RunOptions(), lambda _: None) == 0
    text = (job.logs / "a-000.log").read_text()
    assert f"out={job.folder} log={job.logs / 'a-000.log'}" in text
    assert os.environ.get("OUT") is None  # set for the task, not in this process
