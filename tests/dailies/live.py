"""The dailies app served for real, as a studio runs it: ``vfx-double dailies serve``
(waitress) in a subprocess on 127.0.0.1 and a free port, its user made through the CLI
(``vfx-double dailies user add NAME --password-stdin``), an API token from
``vfx-double dailies token NAME``. The server's output goes to ``server.log`` in the
given folder, so a test can read the lines the app logs.

Used by ``tests/dailies/conftest.py`` (fixture ``live_server``) and
``benchmarks/bench_dailies.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

CLI = str(Path(sys.executable).with_name("vfx-double"))


class ServerError(RuntimeError):
    """The server did not come up or a CLI step failed; the message ends with its output."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``start()`` adds the user, starts the server and waits until ``/login`` answers;
    ``stop()`` ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, work_root: Path, db_url: str, *, keyring: Path, folder: Path,
                 user: str = "reviewer", password: str = "correct horse battery") -> None:
        self.work_root = Path(work_root)
        self.db_url = db_url
        self.keyring = Path(keyring)
        self.folder = Path(folder)
        self.user = user
        self.password = password
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def _env(self) -> dict[str, str]:
        return dict(os.environ, VFX_DOUBLE_KEYRING=str(self.keyring))

    def cli(self, *args: str, stdin: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        """``vfx-double dailies ARGS --work-root ... --db ...``."""
        argv = [CLI, "dailies", *args, "--work-root", str(self.work_root), "--db", self.db_url]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=self._env())

    def _cli_ok(self, *args: str, stdin: str | None = None) -> str:
        done = self.cli(*args, stdin=stdin)
        if done.returncode != 0:
            raise ServerError(f"vfx-double dailies {' '.join(args)} exited "
                              f"{done.returncode}:\n{done.stdout}{done.stderr}")
        return done.stdout

    def add_user(self, name: str, password: str) -> None:
        self._cli_ok("user", "add", name, "--password-stdin", stdin=password + "\n")

    def token(self, name: str | None = None) -> str:
        """A new API token for ``name`` (default: the server's user): the CLI's last line."""
        lines = self._cli_ok("token", name or self.user).strip().splitlines()
        if not lines:
            raise ServerError("vfx-double dailies token printed nothing")
        return lines[-1].strip()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def start(self, timeout: float = 60) -> LiveServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.add_user(self.user, self.password)
        self.port = _free_port()
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [CLI, "dailies", "serve", "--work-root", str(self.work_root), "--db", self.db_url,
             "--host", "127.0.0.1", "--port", str(self.port), "--keyring", str(self.keyring)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self._env(),
            start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise self._fail(f"the server exited with status {self.proc.returncode}")
            try:
                if requests.get(f"{self.url}/login", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise self._fail(f"/login did not answer 200 within {timeout:.0f} s")
            time.sleep(0.2)

    def _fail(self, what: str) -> ServerError:
        tail = "\n".join(self.log_text().splitlines()[-30:])
        self.stop()
        return ServerError(f"dailies server on port {self.port}: {what}\n--- server.log:\n{tail}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def session(self) -> requests.Session:
        """A requests session signed in through the login form."""
        s = requests.Session()
        r = s.post(f"{self.url}/login", data={"username": self.user, "password": self.password},
                   timeout=10)
        if r.status_code >= 400 or "/login" in r.url:
            raise ServerError(f"sign-in as {self.user} failed: {r.status_code} at {r.url}")
        return s

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
