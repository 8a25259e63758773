"""A real PostgreSQL server on 127.0.0.1 for the dailies tests and benchmark: Debian's
``postgresql-15`` binaries (``/usr/lib/postgresql/15/bin``), a cluster made with ``initdb``
in a temporary folder, started with ``pg_ctl`` and stopped after.

- The server runs as the ``postgres`` system user: PostgreSQL refuses to run as root, and
  we run as root, so every server command goes through ``runuser -u postgres --`` and the
  folder is handed to that user (``chown``). Run as another user, the commands run as is.
- Local trust authentication on 127.0.0.1 only (``listen_addresses``), a free TCP port,
  no Unix socket in /var/run (``unix_socket_directories`` is the folder), the log in the
  folder; ``fsync=off``: a test database need not survive a power cut.
- One database, ``dailies``, owned by the server's superuser; :attr:`url` is the
  SQLAlchemy URL for psycopg 3.

Used by ``tests/dailies/conftest.py`` (fixture ``postgres_url``) and
``benchmarks/bench_dailies.py``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path(os.environ.get("VFX_DOUBLE_PG_BIN", "/usr/lib/postgresql/15/bin"))
PROGRAMS = ("initdb", "pg_ctl", "createdb", "pg_isready")
SERVICE_USER = "postgres"


class PostgresError(RuntimeError):
    """The server did not come up; the message ends with its log's tail."""


def missing_programs() -> list[str]:
    return [p for p in PROGRAMS if not (BIN / p).is_file()]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``start()`` runs initdb (once), starts the server, creates the database;
    ``stop()`` shuts it down (fast mode: open connections are ended)."""

    def __init__(self, folder: Path | None = None, *, database: str = "dailies") -> None:
        # The service user must reach the folder: pytest's temp folders sit under a 0700
        # root-owned one, so by default the server gets its own folder in the system temp
        # dir (removed by stop()).
        self._own_folder = folder is None
        self.folder = Path(folder or tempfile.mkdtemp(prefix="vfx_double_pg_")).absolute()
        self.data = self.folder / "data"
        self.database = database
        self.port = 0
        self.started = False
        self._as_service = os.geteuid() == 0
        self.user = SERVICE_USER if self._as_service else pwd.getpwuid(os.geteuid()).pw_name

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"

    def _run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        argv = [str(BIN / program), *args]
        if self._as_service:
            argv = ["runuser", "-u", SERVICE_USER, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=self.folder)

    def _tail(self) -> str:
        if self.log.is_file() and self.log.stat().st_size:
            lines = self.log.read_text(errors="replace").splitlines()[-20:]
            return f"--- {self.log.name}:\n" + "\n".join(lines)
        return "(the server wrote no log)"

    def _fail(self, what: str, done: subprocess.CompletedProcess | None = None) -> PostgresError:
        said = ""
        if done is not None:
            said = (done.stdout + done.stderr).strip()[-1500:]
            said = f"\n{said}" if said else ""
        tail = self._tail()
        self.stop()
        return PostgresError(f"PostgreSQL in {self.folder}: {what}{said}\n{tail}")

    def start(self, timeout: float = 60) -> PostgresServer:
        missing = missing_programs()
        if missing:
            raise PostgresError(f"not installed in {BIN}: {', '.join(missing)} "
                                "(apt-get install postgresql)")
        if self._as_service and shutil.which("runuser") is None:
            raise PostgresError("runuser not found: needed to start PostgreSQL as "
                                f"{SERVICE_USER!r} (the server refuses root)")
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._as_service:
            entry = pwd.getpwnam(SERVICE_USER)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        if not (self.data / "PG_VERSION").is_file():
            done = self._run("initdb", "--pgdata", str(self.data), "--auth=trust",
                             "--username", self.user, "--encoding=UTF8", "--no-locale",
                             "--no-sync")
            if done.returncode != 0:
                raise self._fail("initdb failed", done)
        self.port = _free_port()
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.folder} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        done = self._run("pg_ctl", "--pgdata", str(self.data), "--log", str(self.log),
                         "--options", options, "--wait", f"--timeout={int(timeout)}", "start",
                         timeout=timeout + 10)
        if done.returncode != 0:
            raise self._fail("pg_ctl start failed", done)
        self.started = True
        deadline = time.monotonic() + timeout
        while True:
            ready = self._run("pg_isready", "--host=127.0.0.1", f"--port={self.port}",
                              "--username", self.user, timeout=10)
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise self._fail(f"not accepting connections after {timeout:.0f} s", ready)
            time.sleep(0.2)
        done = self._run("createdb", "--host=127.0.0.1", f"--port={self.port}",
                         "--username", self.user, self.database)
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise self._fail(f"createdb {self.database} failed", done)
        return self

    def stop(self) -> None:
        if self.started:
            self._shutdown()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _shutdown(self) -> None:
        self.started = False
        done = self._run("pg_ctl", "--pgdata", str(self.data), "--mode=fast", "--wait",
                         "stop", timeout=60)
        if done.returncode != 0:
            # last resort: the postmaster's pid is the first line of postmaster.pid
            pid_file = self.data / "postmaster.pid"
            if pid_file.is_file():
                try:
                    os.kill(int(pid_file.read_text().split()[0]), 9)
                except (ValueError, IndexError, ProcessLookupError):
                    pass

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
