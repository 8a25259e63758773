"""The ``local`` backend: runs a job's OpenJD template on this machine with openjd-sessions,
no servers. The default of ``vfx-double run``.

- Steps run in dependency order; up to ``workers`` tasks at once (chunks of one step, or
  steps whose inputs are done).
- Each task is its own openjd-sessions ``Session``: the job environment (the config hash
  every task checks) entered, the step's command run, its output in
  ``<job>/logs/<step>-<NNN>.log``.
- Each task that ends leaves a record in ``<job>/tasks/``; a rerun skips the done ones.
- The first failure stops new tasks (running ones finish: their work is kept) and a summary
  names the task, its exit status, its log and the log's last lines.
- Ctrl-C (or SIGTERM) cancels the running tasks, records nothing for them and exits; a rerun
  continues where the job stood.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from openjd.model import (
    ParameterValue,
    ParameterValueType,
    RevisionExtensions,
    SpecificationRevision,
    StepParameterSpaceIterator,
    create_job,
    decode_job_template,
)
from openjd.sessions import LOG, ActionState, Session

from vfx_double.errors import TRAIN_STOPPED, ConfigError
from vfx_double.io import atomic
from vfx_double.records import read_json

from .backends import RunOptions
from .openjd import EXTENSIONS
from .submit import Job

#: lines of a failed task's log shown in the summary
TAIL = 6


@dataclass
class Task:
    step: str
    index: int
    frames: str | None
    depends_on: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.step} {self.frames}" if self.frames else self.step

    @property
    def key(self) -> str:
        return f"{self.step}-{self.index:03d}"


@dataclass
class Outcome:
    task: Task
    state: str        # done, failed, canceled
    exit_code: int | None
    seconds: float
    log: Path
    message: str = ""


def plan(job: Job) -> list[Task]:
    """Every task of the job, step by step in the template's order."""
    tasks = []
    for step in job.steps():
        deps = tuple(d["dependsOn"] for d in step.get("dependencies", []))
        for index, frames in enumerate(job.tasks_of(step)):
            tasks.append(Task(step["name"], index, frames, deps))
    return tasks


def states(job: Job) -> dict[str, str]:
    """Task key -> how its last run here ended (done, failed)."""
    out = {}
    if job.tasks.is_dir():
        for path in job.tasks.glob("*.json"):
            try:
                out[path.stem] = str(read_json(path, "options", ConfigError).get("state"))
            except ConfigError:
                continue  # a record cut short is a task to run again
    return out


def finished(job: Job) -> set[str]:
    """Keys of the tasks a previous run of this job completed."""
    return {key for key, state in states(job).items() if state == "done"}


class _TaskLog(logging.Handler):
    """openjd-sessions' log lines of one session, into that task's log file."""

    def __init__(self, session_id: str, path: Path) -> None:
        super().__init__()
        self.session_id = session_id
        self.stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.setFormatter(logging.Formatter("%(asctime)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "session_id", None) == self.session_id:
            self.stream.write(self.format(record) + "\n")
            self.stream.flush()

    def close(self) -> None:
        self.stream.close()
        super().close()


class Runner:
    """Runs one job's tasks; ``cancel()`` (from another thread) stops the running ones."""

    def __init__(self, job: Job, echo: Callable[[str], None] = print) -> None:
        self.job = job
        self.echo = echo
        template = decode_job_template(template=job.template,
                                       supported_extensions=list(EXTENSIONS))
        self.values = {
            d["name"]: ParameterValue(type=ParameterValueType(d["type"]),
                                      value=job.parameters.get(d["name"], str(d.get("default", ""))))
            for d in job.template["parameterDefinitions"]}
        self.model = create_job(job_template=template, job_parameter_values=self.values)
        self.steps = {s.name: s for s in self.model.steps}
        self.extensions = RevisionExtensions(spec_rev=SpecificationRevision.v2023_09,
                                             supported_extensions=list(EXTENSIONS))
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()
        self.canceled = threading.Event()

    def task_values(self, task: Task) -> dict[str, ParameterValue]:
        step = self.steps[task.step]
        if step.parameterSpace is None:
            return {}
        for index, values in enumerate(StepParameterSpaceIterator(space=step.parameterSpace)):
            if index == task.index:
                return values
        raise IndexError(f"{task.step} has no task {task.index}")

    def run_task(self, task: Task) -> Outcome:
        log = self.job.logs / f"{task.key}.log"
        ended = threading.Event()
        status: dict[str, Any] = {}

        def callback(session_id: str, action: Any) -> None:
            if action.state != ActionState.RUNNING:
                status["state"], status["exit"] = action.state, action.exit_code
                status["message"] = action.fail_message or ""
                ended.set()

        session_id = f"{self.job.name}/{task.key}"
        handler = _TaskLog(session_id, log)
        LOG.addHandler(handler)
        started = time.monotonic()
        try:
            with Session(session_id=session_id, job_parameter_values=self.values,
                         job_name=str(self.model.name), callback=callback,
                         revision_extensions=self.extensions) as session:
                for env in self.model.jobEnvironments or []:
                    ended.clear()
                    session.enter_environment(environment=env)
                    if env.script is not None:
                        ended.wait()
                with self.lock:
                    if self.canceled.is_set():
                        return Outcome(task, "canceled", None, 0.0, log)
                    ended.clear()
                    status.clear()
                    session.run_task(step_script=self.steps[task.step].script,
                                     task_parameter_values=self.task_values(task),
                                     os_env_vars={"VFX_DOUBLE_TASK_LOG": str(log)},
                                     step_name=task.step)
                    self.sessions[task.key] = session
                self.echo(f"run:           {task.label}: started (log {log.name})")
                ended.wait()
                with self.lock:
                    self.sessions.pop(task.key, None)
        finally:
            LOG.removeHandler(handler)
            handler.close()
        seconds = time.monotonic() - started
        state = status.get("state")
        if state == ActionState.SUCCESS:
            return Outcome(task, "done", status.get("exit"), seconds, log)
        if state == ActionState.CANCELED or self.canceled.is_set():
            return Outcome(task, "canceled", status.get("exit"), seconds, log)
        return Outcome(task, "failed", status.get("exit"), seconds, log, status.get("message", ""))

    def cancel(self) -> None:
        """Stop every running task: SIGTERM to its command (openjd-sessions execs it, so
        vfx-double gets it and unwinds; training checkpoints), SIGKILL to its process group
        if it is still there after 10 s."""
        self.canceled.set()
        with self.lock:
            running = list(self.sessions.values())
        for session in running:
            try:
                session.cancel_action(time_limit=timedelta(seconds=10))
            except RuntimeError:
                pass  # it ended meanwhile


def record(job: Job, outcome: Outcome) -> None:
    atomic.write_json(job.tasks / f"{outcome.task.key}.json", {
        "schema": "LocalTask.1", "step": outcome.task.step, "index": outcome.task.index,
        "frames": outcome.task.frames, "state": outcome.state, "exit": outcome.exit_code,
        "seconds": round(outcome.seconds, 3), "log": str(outcome.log),
        "started_at": round(time.time() - outcome.seconds, 3), "ended_at": round(time.time(), 3)})


def run(job: Job, options: RunOptions, echo: Callable[[str], None]) -> int:
    """Run ``job`` here: 0 when every task is done, else the failed task's exit class
    (2 when it refused bad input, 1 otherwise)."""
    tasks = plan(job)
    done = finished(job)
    job.logs.mkdir(parents=True, exist_ok=True)
    job.tasks.mkdir(parents=True, exist_ok=True)
    todo = [t for t in tasks if t.key not in done]
    total = len(tasks)
    if len(todo) < total:
        echo(f"run: {job.name}: {total - len(todo)} of {total} tasks already done, skipped")
    runner = Runner(job, echo)
    failed: list[Outcome] = []
    running: dict[Future[Outcome], Task] = {}
    count = total - len(todo)
    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        try:
            while todo or running:
                if not failed:
                    free = max(1, options.workers) - len(running)
                    for task in _ready(todo, running.values())[:max(0, free)]:
                        todo.remove(task)
                        running[pool.submit(runner.run_task, task)] = task
                if not running:
                    break
                finished_now, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished_now:
                    running.pop(future)
                    outcome = future.result()
                    if outcome.state == "canceled":
                        continue
                    record(job, outcome)
                    count += outcome.state == "done"
                    if outcome.state == "done":
                        echo(f"run: [{count:>3}/{total}] {outcome.task.label}: done in "
                             f"{outcome.seconds:.1f} s")
                    else:
                        failed.append(outcome)
                        echo(f"run: {outcome.task.label}: FAILED (exit {outcome.exit_code})"
                             + (f"; letting {len(running)} running task(s) finish"
                                if running else ""))
        except BaseException:
            runner.cancel()
            for future in list(running):
                future.result()
            raise
    if failed:
        for line in summary(job, tasks, failed[0], count):
            echo(line)
        return 2 if failed[0].exit_code == 2 else 1
    echo(f"run: {job.name}: all {total} tasks done")
    return 0


def _ready(todo: list[Task], running: Any) -> list[Task]:
    """Tasks whose steps' dependencies have no task left to do or running."""
    pending = {t.step for t in todo} | {t.step for t in running}
    return [t for t in todo if not any(d in pending for d in t.depends_on)]


def summary(job: Job, tasks: list[Task], failure: Outcome, done: int) -> list[str]:
    """The one screen a TD reads when a run stops: which task, why, its log, what is left."""
    lines = [f"run: {job.name} STOPPED: task {failure.task.label} failed with exit status "
             f"{failure.exit_code} after {failure.seconds:.1f} s",
             f"  log: {failure.log}"]
    if failure.exit_code == TRAIN_STOPPED:
        lines.append("  (training was stopped by a signal at a checkpoint before its target "
                     "steps: a rerun resumes it)")
    tail = _tail(failure.log, TAIL)
    if tail:
        lines.append("  last lines:")
        lines += [f"    {line}" for line in tail]
    lines.append(f"  done {done} of {len(tasks)} tasks; rerun `vfx-double run "
                 f"{job.parameters.get('ShotConfig', 'SHOT.yaml')}` after fixing it: "
                 "done tasks are skipped")
    return lines


def _tail(path: Path, count: int) -> list[str]:
    """The last ``count`` lines the task's command printed (between openjd-sessions'
    "Output:" and its "Process pid ... exited" lines)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    ours: list[str] = []
    inside = False
    for line in text.splitlines():
        message = line.split(" ", 2)[-1] if line[:2].isdigit() else line
        if message.startswith("Output:"):
            inside, ours = True, []
        elif message.startswith("Process pid "):
            inside = False
        elif inside and message.strip():
            ours.append(message[:200])
    return ours[-count:]
