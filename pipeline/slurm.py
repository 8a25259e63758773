"""The ``slurm`` backend: one sbatch script per step of the job's OpenJD template, submitted
in the template's order and chained with ``--dependency=afterok``; then Slurm runs it.

- A chunked step is an array job (``--array=0-(n-1)``): a ``case`` on
  ``$SLURM_ARRAY_TASK_ID`` picks the task's command line (:meth:`Job.shell_command` with
  that chunk's ``Frames``). A step without chunks is a plain job (task index 0).
- Resources from the step's host requirements: ``--mem`` (``amount.worker.memory``, MiB)
  and ``--gres=gpu:N`` (``amount.worker.gpu``).
- Training is requeueable: ``--requeue --signal=B:USR1@120``. Its script runs the task in
  the background, forwards USR1 / TERM to it, waits, and when the task exits 75
  (:data:`vfx_double.errors.TRAIN_STOPPED`: checkpointed before its target) calls
  ``scontrol requeue $SLURM_JOB_ID``; the requeued job runs the same ``train --run
  run-NNN`` command line, which resumes that run. More than one GPU: the template's
  command already says ``train --nproc N`` (vfx_double.train.launch: torchrun under it,
  a signal turned into one checkpoint and exit 75), so the script runs it as it is.
- Every task gets the job environment (``VFX_DOUBLE_CONFIG_SHA256``, ``VFX_DOUBLE_JOB``)
  and ``VFX_DOUBLE_TASK_LOG``, its log ``<job>/logs/<step>-<index>.log`` (sbatch
  ``--output``, appended to: a requeued or retried task keeps its earlier attempts'
  lines). The rest of the submitter's environment goes with it (sbatch's default).
- The scripts are kept in ``<job>/slurm/<step>.sbatch``, exactly as submitted (with their
  dependency on the earlier steps' Slurm job ids), and ``<job>/slurm/jobs.json`` maps each
  step to its Slurm job id: what :func:`state` (and ``vfx-double status``) reads.

Before anything is submitted the controller must answer (``scontrol ping``; ``SLURM_CONF``
is honoured as by every Slurm command): otherwise a ConfigError, nothing submitted. An
sbatch that fails part way cancels the steps already submitted.

State comes from ``scontrol show job`` (jobs the controller still holds: running, pending
and, for ``MinJobAge``, finished) and, for jobs it has forgotten, ``sacct`` (needs Slurm
accounting).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from vfx_double.errors import TRAIN_STOPPED, ConfigError
from vfx_double.io import atomic

from .backends import RunOptions
from .submit import Job

#: the step whose task checkpoints and exits 75 on a signal: requeued, not failed
REQUEUED_STEPS = ("train",)
#: seconds before a time limit Slurm signals the training script (``--signal=B:USR1@``)
SIGNAL_AHEAD_S = 120
#: seconds between two state polls while waiting
POLL_S = 2.0
#: seconds a Slurm client command may take
CLIENT_TIMEOUT_S = 20.0
#: polls in a row that may find no state for a job (controller down, job forgotten and no
#: accounting) before waiting gives up on it
UNKNOWN_POLLS = 30

#: Slurm job states after which a job (or array task) runs no more
FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
                   "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "REVOKED"})
#: a pending job whose dependency can never be met (kept by a cluster that does not kill it)
NEVER = ("DependencyNeverSatisfied",)

FOLDER = "slurm"
RECORD = "jobs.json"


# -- scripts --------------------------------------------------------------------------------

def _amount(step: dict[str, Any], name: str) -> int:
    for amount in step.get("hostRequirements", {}).get("amounts", []):
        if amount.get("name") == name:
            return int(amount.get("min", 0))
    return 0


def gpus(step: dict[str, Any]) -> int:
    return _amount(step, "amount.worker.gpu")


def memory_mib(step: dict[str, Any]) -> int:
    return _amount(step, "amount.worker.memory")


def depends_on(step: dict[str, Any]) -> list[str]:
    return [d["dependsOn"] for d in step.get("dependencies", [])]


def job_name(job: Job, step: dict[str, Any]) -> str:
    """``<show>/<shot>/<job-NNN>/<step>``: the template's name is ``vfx_double SHOW/SHOT (run)``."""
    words = str(job.template.get("name", "")).split()
    shot = words[1] if len(words) > 1 else "vfx_double"
    return f"{shot}/{job.name}/{step['name']}"


def log_path(job: Job, step: str, index: int | str) -> Path:
    return job.logs / f"{step}-{index}.log"


def task_command(job: Job, step: dict[str, Any], frames: str | None) -> list[str]:
    """The task's command line, exactly as the template says."""
    return job.command(step, frames)


def script(job: Job, step: dict[str, Any], after: Sequence[str] = ()) -> str:
    """The sbatch script of ``step``; ``after``: the Slurm job ids it waits for (afterok)."""
    name = step["name"]
    tasks = job.tasks_of(step)
    array = tasks != [None]
    requeue = name in REQUEUED_STEPS
    n_gpus = gpus(step)
    directives = [
        f"--job-name={job_name(job, step)}",
        f"--chdir={job.folder}",
        f"--output={log_path(job, name, '%a' if array else 0)}",
        "--open-mode=append",
        "--ntasks=1",
    ]
    if array:
        directives.append(f"--array=0-{len(tasks) - 1}")
    if memory_mib(step):
        directives.append(f"--mem={memory_mib(step)}")
    if n_gpus:
        directives.append(f"--gres=gpu:{n_gpus}")
    if requeue:
        directives += ["--requeue", f"--signal=B:USR1@{SIGNAL_AHEAD_S}"]
    else:
        directives.append("--no-requeue")
    if after:
        directives += [f"--dependency=afterok:{':'.join(after)}", "--kill-on-invalid-dep=yes"]
    lines = [
        "#!/bin/bash",
        f"# vfx_double {job.name}, step {name}: written from {job.folder / 'template.json'}",
        "# by pipeline/slurm.py and submitted as it is.",
        *(f"#SBATCH {shlex.quote(d)}" for d in directives),
        "",
        "set -u",
    ]
    for key, value in sorted(job.environment().items()):
        lines.append(f"export {key}={shlex.quote(value)}")
    index = "${SLURM_ARRAY_TASK_ID}" if array else "0"
    lines.append(f"export VFX_DOUBLE_TASK_LOG={shlex.quote(str(job.logs / name))}-{index}.log")
    lines.append("")
    if array:
        lines.append('case "${SLURM_ARRAY_TASK_ID}" in')
        for i, frames in enumerate(tasks):
            lines.append(f"  {i}) task=({shlex.join(task_command(job, step, frames))}) ;;")
        lines += ['  *) echo "vfx_double: no task ${SLURM_ARRAY_TASK_ID} in step '
                  f'{name}" >&2; exit 2 ;;', "esac"]
    else:
        lines.append(f"task=({shlex.join(task_command(job, step, None))})")
    lines.append('echo "vfx_double: $(date -Is) ${SLURM_JOB_ID} '
                 f'{name}[{index}] restart ${{SLURM_RESTART_COUNT:-0}} on $(hostname -s): '
                 '${task[*]}"')
    if not requeue:
        lines.append('exec "${task[@]}"')
    else:
        lines += _requeue_body()
    return "\n".join(lines) + "\n"


def _requeue_body() -> list[str]:
    stopped = f'[ "$status" -eq {TRAIN_STOPPED} ]'
    return [
        "# Slurm signals this shell (--signal=B:USR1, preemption's TERM); the task gets it",
        "# and checkpoints, exits 75, and the job is requeued to resume the same run.",
        "signalled=",
        "forward() {",
        '  signalled=$1',
        '  echo "vfx_double: $(date -Is) SIG$1: forwarded to the training task"',
        '  kill -s "$1" "$child" 2>/dev/null',
        "}",
        "trap 'forward USR1' USR1",
        "trap 'forward TERM' TERM",
        '"${task[@]}" &',
        "child=$!",
        "while :; do",
        '  wait "$child"',
        "  status=$?",
        '  # a trapped signal ends wait early (status > 128) while the task still runs',
        '  if [ "$status" -gt 128 ] && kill -0 "$child" 2>/dev/null; then continue; fi',
        "  break",
        "done",
        'wait "$child" 2>/dev/null; again=$?',
        '[ "$again" -ne 127 ] && status=$again',
        f"if {stopped}; then",
        '  echo "vfx_double: $(date -Is) training stopped at a checkpoint (exit $status);'
        ' requeueing job ${SLURM_JOB_ID} to resume it"',
        '  scontrol requeue "${SLURM_JOB_ID}" && exit 0',
        '  echo "vfx_double: scontrol requeue ${SLURM_JOB_ID} failed" >&2',
        "fi",
        'exit "$status"',
    ]


def write_scripts(job: Job, ids: dict[str, str] | None = None) -> dict[str, Path]:
    """Every step's script in ``<job>/slurm/``; ``ids``: Slurm job ids of steps submitted."""
    out = {}
    for step in job.steps():
        after = [ids[d] for d in depends_on(step)] if ids is not None else []
        path = job.folder / FOLDER / f"{step['name']}.sbatch"
        atomic.write_text(path, script(job, step, after))
        out[step["name"]] = path
    return out


# -- the controller ---------------------------------------------------------------------

def _where() -> str:
    conf = os.environ.get("SLURM_CONF")
    return f"Slurm (SLURM_CONF={conf})" if conf else "Slurm"


def _client(*argv: str, timeout: float = CLIENT_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300] or "no output"


def check_reachable() -> None:
    """ConfigError unless the Slurm commands are installed and the controller answers."""
    missing = [c for c in ("sbatch", "scontrol", "scancel") if shutil.which(c) is None]
    if missing:
        raise ConfigError(_where(), "the Slurm client commands on PATH",
                          f"no {', '.join(missing)}",
                          "install slurm-client (or use --backend local)")
    conf = os.environ.get("SLURM_CONF")
    if conf and not Path(conf).is_file():
        raise ConfigError(_where(), "SLURM_CONF naming the cluster's slurm.conf", "no such file",
                          "fix or unset SLURM_CONF; nothing was submitted")
    try:
        ping = _client("scontrol", "ping")
    except subprocess.TimeoutExpired:
        raise ConfigError(_where(), "a Slurm controller that answers",
                          f"no answer to scontrol ping in {CLIENT_TIMEOUT_S:.0f} s",
                          "check SLURM_CONF and that slurmctld runs; nothing was submitted")
    if ping.returncode != 0 or not re.search(r"\bis UP\b", ping.stdout):
        raise ConfigError(_where(), "a Slurm controller that answers",
                          "scontrol ping: "
                          + _one_line((ping.stdout.strip() or ping.stderr).splitlines()[0]
                                      if (ping.stdout.strip() or ping.stderr) else ""),
                          "check SLURM_CONF and that slurmctld runs; nothing was submitted")


def _cancel(ids: list[str]) -> None:
    if ids:
        try:
            _client("scancel", *ids)
        except subprocess.TimeoutExpired:
            pass


def submit(job: Job, echo: Callable[[str], None] = lambda _: None) -> dict[str, str]:
    """Submit every step in the template's order; the step -> Slurm job id map (also in
    ``<job>/slurm/jobs.json``). Steps already submitted are cancelled if one fails."""
    check_reachable()
    job.logs.mkdir(parents=True, exist_ok=True)
    ids: dict[str, str] = {}
    for step in job.steps():
        name = step["name"]
        after = [ids[d] for d in depends_on(step)]
        path = job.folder / FOLDER / f"{name}.sbatch"
        atomic.write_text(path, script(job, step, after))
        try:
            done = _client("sbatch", "--parsable", str(path))
            ok = done.returncode == 0 and done.stdout.strip()
            found = _one_line(done.stderr or done.stdout)
        except subprocess.TimeoutExpired:
            ok, found = False, f"no answer in {CLIENT_TIMEOUT_S:.0f} s"
        if not ok:
            _cancel(list(ids.values()))
            raise ConfigError(f"{_where()}: sbatch {path}", "the step accepted", found,
                              "check the step's resources against the cluster; the steps "
                              "submitted before it were cancelled")
        ids[name] = done.stdout.strip().split(";")[0]
        n = len(job.tasks_of(step))
        echo(f"{name}: Slurm job {ids[name]}" + (f" (array of {n})" if n > 1 else ""))
    atomic.write_json(job.folder / FOLDER / RECORD, {"schema": "SlurmJobs.1",
                                                     "slurm_conf": os.environ.get("SLURM_CONF"),
                                                     "steps": ids})
    return ids


# -- state ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskState:
    index: int
    state: str
    restarts: int = 0
    reason: str = ""
    start: str = ""
    end: str = ""
    exit_code: str = ""


@dataclass(frozen=True)
class StepState:
    """One step's Slurm job and the state of each of its tasks (array index -> state)."""

    step: str
    job_id: str
    tasks: dict[int, TaskState] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return bool(self.tasks) and all(t.state in FINAL or t.reason in NEVER
                                        for t in self.tasks.values())

    @property
    def completed(self) -> bool:
        return bool(self.tasks) and all(t.state == "COMPLETED" for t in self.tasks.values())

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for t in self.tasks.values():
            counts[t.state] = counts.get(t.state, 0) + 1
        return ", ".join(f"{k} {v}" if len(self.tasks) > 1 else k
                         for k, v in sorted(counts.items())) or "UNKNOWN"


_FIELD = re.compile(r"(\w+)=(\S*)")


def _indices(text: str) -> list[int]:
    """``0-3``, ``1,3``, ``2-5%2`` (a throttle) as task indices."""
    out: list[int] = []
    for part in text.split("%")[0].split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out += range(int(a), int(b) + 1)
        elif part.isdigit():
            out.append(int(part))
    return out


def _answer(*argv: str) -> str | None:
    """A Slurm client's output, or None when it timed out or failed (a state query
    then falls back, or says UNKNOWN)."""
    try:
        done = _client(*argv)
    except subprocess.TimeoutExpired:
        return None
    return done.stdout if done.returncode == 0 else None


def _from_scontrol(job_id: str) -> dict[int, TaskState] | None:
    shown = _answer("scontrol", "show", "job", "--oneliner", job_id)
    if shown is None:
        return None
    tasks: dict[int, TaskState] = {}
    for line in shown.splitlines():
        f = dict(_FIELD.findall(line))
        if "JobState" not in f:
            continue
        state = TaskState(0, f["JobState"], int(f.get("Restarts", "0") or 0),
                          f.get("Reason", ""), f.get("StartTime", ""), f.get("EndTime", ""),
                          f.get("ExitCode", ""))
        for i in _indices(f.get("ArrayTaskId", "0")):
            tasks[i] = replace(state, index=i)
    return tasks or None


def _from_sacct(job_id: str) -> dict[int, TaskState] | None:
    if shutil.which("sacct") is None:
        return None
    done = _answer("sacct", "-j", job_id, "-X", "-n", "-P", "--duplicates",
                   "-o", "JobID,State,Start,End,ExitCode,Restarts")
    if done is None:
        return None
    tasks: dict[int, TaskState] = {}
    for line in done.splitlines():
        parts = line.split("|")
        if len(parts) < 5:
            continue
        jid, state, start, end, code = parts[:5]
        restarts = int(parts[5]) if len(parts) > 5 and parts[5].isdigit() else 0
        index = jid.split("_", 1)[1] if "_" in jid else "0"
        for i in _indices(index.strip("[]")):
            tasks[i] = TaskState(i, state.split()[0], restarts, "", start, end, code)
    return tasks or None


def step_state(step: str, job_id: str) -> StepState:
    tasks = _from_scontrol(job_id) or _from_sacct(job_id) or {0: TaskState(0, "UNKNOWN")}
    return StepState(step, job_id, tasks)


def submitted(job: Job) -> dict[str, str]:
    """The step -> Slurm job id map of a submitted job ({} if it was never submitted)."""
    path = job.folder / FOLDER / RECORD
    if not path.is_file():
        return {}
    return {str(k): str(v) for k, v in json.loads(path.read_text())["steps"].items()}


def state(job: Job, ids: dict[str, str] | None = None) -> list[StepState]:
    """Each submitted step's Slurm job id and the state of each of its tasks."""
    ids = submitted(job) if ids is None else ids
    order = [s["name"] for s in job.steps()]
    steps = sorted(ids, key=lambda n: order.index(n) if n in order else len(order))
    return [step_state(step, ids[step]) for step in steps]


# -- run -------------------------------------------------------------------------------------

def wait(job: Job, ids: dict[str, str], echo: Callable[[str], None],
         poll: float | None = None) -> list[StepState]:
    """Poll until every step has ended, echoing each change of a task's state."""
    seen: dict[tuple[str, int], tuple[str, int]] = {}
    unknown = 0
    while True:
        states = state(job, ids)
        lost = [s for s in states if not s.done and any(
            t.state == "UNKNOWN" for t in s.tasks.values())]
        unknown = unknown + 1 if lost else 0
        if unknown >= UNKNOWN_POLLS:
            for s in lost:
                echo(f"{s.step} {s.job_id}: no state from scontrol or sacct for "
                     f"{unknown} polls; no longer waiting for it")
            return states
        for s in states:
            for t in sorted(s.tasks.values(), key=lambda t: t.index):
                key = (s.step, t.index)
                now = (t.state, t.restarts)
                if seen.get(key) != now:
                    seen[key] = now
                    label = f"{s.step}[{t.index}]" if len(s.tasks) > 1 else s.step
                    more = f" (restarts {t.restarts})" if t.restarts else ""
                    why = f" ({t.reason})" if t.reason not in ("", "None") else ""
                    echo(f"{label} {s.job_id}: {t.state}{more}{why}")
        if all(s.done for s in states):
            return states
        time.sleep(POLL_S if poll is None else poll)


def run(job: Job, options: RunOptions, echo: Callable[[str], None]) -> int:
    """Submit ``job``; with ``options.wait``, wait for it and return 0 only if every step
    COMPLETED (1 otherwise); without, print the job ids and return 0."""
    ids = submit(job, echo)
    if not options.wait:
        echo(f"submitted {job.name}: {len(ids)} Slurm jobs; logs in {job.logs}")
        return 0
    states = wait(job, ids, echo)
    failed = [s for s in states if not s.completed]
    for s in failed:
        echo(f"{s.step} {s.job_id}: {s.summary()}; logs {job.logs}/{s.step}-*.log")
    return 1 if failed else 0
