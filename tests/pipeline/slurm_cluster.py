"""A real single-node Slurm cluster on 127.0.0.1 for tests and benchmarks: Debian's
``slurm-wlm`` and ``munge`` daemons, started from a temporary folder and stopped after.

- munged with its own generated key, socket, log and pid file (never the system one);
  Slurm reaches it through ``AuthInfo=socket=...``.
- slurmctld and slurmd as root, on free TCP ports, one node called ``hostname -s`` at
  127.0.0.1 with this machine's CPUs, partition ``debug``; state, spool, logs and pid
  files in the folder. ``export SLURM_CONF=<folder>/slurm.conf`` (:attr:`env`) points the
  client commands (sbatch, squeue, scontrol, scancel) at it.
- No slurmdbd, so no ``sacct``: job state comes from ``squeue --states=all`` and
  ``scontrol show job`` (``MinJobAge`` keeps finished jobs in the controller for an
  hour). ``jobcomp/filetxt`` writes one line per finished (or requeued) job to
  ``jobcomp.txt``, a record a test can read.
- GPUs: ``GresTypes=gpu`` and a ``gres.conf`` over character devices made with ``mknod``
  (major 195, like /dev/nvidiaN) in the folder, so ``--gres=gpu:N`` is schedulable on a
  machine without one. Nothing opens them: ``TaskPlugin=task/none``.

Needs root (slurmd runs jobs as their user and munged's key must be its own). Used by
``tests/pipeline/conftest.py`` (fixture ``slurm_cluster``) and ``benchmarks/bench_slurm.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel")


class ClusterError(RuntimeError):
    """The cluster did not come up; the message ends with the daemons' log tails."""


def missing_programs() -> list[str]:
    return [p for p in DAEMONS + CLIENTS if shutil.which(p) is None]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 4096


class SlurmCluster:
    """``start()`` brings the three daemons up and waits for the node to be idle;
    ``stop()`` kills them (and the jobs slurmd still runs)."""

    def __init__(self, folder: Path, *, gpus: int = 2, name: str = "vfxdouble",
                 cred_expire: int = 10) -> None:
        self.folder = Path(folder).absolute()
        self.cred_expire = cred_expire
        self.gpus = gpus
        self.name = name
        self.node = socket.gethostname().split(".")[0]
        self.conf = self.folder / "slurm.conf"
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict[str, str]:
        """What a client command needs: ``SLURM_CONF``."""
        return {"SLURM_CONF": str(self.conf)}

    def log(self, daemon: str) -> Path:
        return self.folder / "log" / f"{daemon}.log"

    @property
    def jobcomp(self) -> Path:
        return self.folder / "log" / "jobcomp.txt"

    # -- configuration -----------------------------------------------------------------

    def _write_config(self) -> None:
        d = self.folder
        for sub in ("munge", "state", "spool", "log", "run", "dev"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(d / "munge", 0o700)
        key = d / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        devices = []
        for i in range(self.gpus):
            dev = d / "dev" / f"nvidia{i}"
            if not dev.exists():
                try:
                    os.mknod(dev, 0o600 | 0o020000, os.makedev(195, i))   # S_IFCHR
                except OSError as err:
                    raise ClusterError(f"mknod {dev} (a stand-in GPU for gres.conf): {err}")
            devices.append(dev)
        cpus = os.cpu_count() or 1
        memory = max(_memory_mib(), 64 * 1024)   # declared (config_overrides), not enforced
        gres = f" Gres=gpu:{self.gpus}" if self.gpus else ""
        self.conf.write_text("\n".join([
            f"ClusterName={self.name}",
            "SlurmctldHost=localhost(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            # cred_expire: a requeued job waits this long (+1 s) before it may start again
            # (Slurm's default 120 s keeps a test's requeued training idle for two minutes)
            f"AuthInfo=socket={d / 'munge' / 'munge.socket'},cred_expire={self.cred_expire}",
            f"StateSaveLocation={d / 'state'}",
            f"SlurmdSpoolDir={d / 'spool'}",
            f"SlurmctldPidFile={d / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={d / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.log('slurmctld')}",
            f"SlurmdLogFile={self.log('slurmd')}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "SlurmdParameters=config_overrides",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerType=sched/backfill",
            "SchedulerParameters=sched_interval=2",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "ReturnToService=2",
            "JobRequeue=1",
            "MinJobAge=3600",
            "KillWait=10",
            "InactiveLimit=0",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=60",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.jobcomp}",
            "GresTypes=gpu",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory}"
            f"{gres} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        (d / "gres.conf").write_text("".join(
            f"NodeName={self.node} Name=gpu File={dev}\n" for dev in devices))
        (d / "cgroup.conf").write_text("CgroupPlugin=autodetect\n")

    # -- daemons -----------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        out = open(self.folder / "log" / f"{name}.stdout", "ab")
        env = dict(os.environ, SLURM_CONF=str(self.conf))
        self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env,
                                            start_new_session=True)
        out.close()

    def _tail(self) -> str:
        parts = []
        for name in DAEMONS:
            for path in (self.log(name), self.folder / "log" / f"{name}.stdout"):
                if path.is_file() and path.stat().st_size:
                    lines = path.read_text(errors="replace").splitlines()[-15:]
                    parts.append(f"--- {path.name}:\n" + "\n".join(lines))
        return "\n".join(parts) or "(no daemon wrote a log)"

    def _fail(self, what: str) -> ClusterError:
        self.stop()
        return ClusterError(f"single-node Slurm cluster in {self.folder}: {what}\n{self._tail()}")

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise self._fail(f"{name} exited with status {proc.returncode}")

    def client(self, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
        """A Slurm client command against this cluster."""
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, **self.env))

    def start(self, timeout: float = 90) -> SlurmCluster:
        missing = missing_programs()
        if missing:
            raise ClusterError(f"not installed: {', '.join(missing)} "
                               "(apt-get install slurm-wlm munge)")
        self._write_config()
        d = self.folder
        self._spawn("munged", ["munged", "--foreground", "--force",
                               f"--socket={d / 'munge' / 'munge.socket'}",
                               f"--key-file={d / 'munge' / 'munge.key'}",
                               f"--log-file={self.log('munged')}",
                               f"--pid-file={d / 'munge' / 'munged.pid'}",
                               f"--seed-file={d / 'munge' / 'munged.seed'}"])
        deadline = time.monotonic() + timeout
        while not (d / "munge" / "munge.socket").exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise self._fail("munged made no socket")
            time.sleep(0.1)
        # -i: ignore state from an earlier start; -c: clean start
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-c", "-f", str(self.conf), "-N", self.node])
        while True:
            self._check_alive()
            try:
                out = self.client("sinfo", "--noheader", "--nodes", self.node, "-o", "%t",
                                  timeout=10)
                state = out.stdout.strip()
            except subprocess.TimeoutExpired:
                state = ""
            if state in ("idle", "mix", "alloc"):
                return self
            if time.monotonic() > deadline:
                raise self._fail(f"node {self.node} not idle after {timeout:.0f} s "
                                 f"(sinfo: {state or out.stderr.strip()!r})")
            time.sleep(0.5)

    def stop(self) -> None:
        """Kill the daemons (slurmd's job steps first: slurmctld is asked to cancel all)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                self.client("scancel", "--full", "--quiet", "--user", "root", timeout=10)
            except (subprocess.TimeoutExpired, OSError):
                pass
        for name in reversed(DAEMONS):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # slurmstepd processes of jobs still running (they outlive slurmd by design)
        for pid in _stepd_pids(self.folder / "spool"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.procs.clear()

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stepd_pids(spool: Path) -> list[int]:
    """slurmstepd processes whose command line names this cluster's spool folder... they do
    not, so: slurmstepd processes whose environment holds this cluster's SLURM_CONF."""
    conf = str(spool.parent / "slurm.conf").encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "slurmstepd":
                continue
            if conf in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids
