"""Runs every row of the bad-input matrix (cases.py): exit code, one-line error with the
expected words, plates untouched, and bounded memory for the guarded rows."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vfx_double.cli import main

from ..shots import MiniShot, make_shot
from .cases import CASES, Case, work_area

REPO = Path(__file__).resolve().parents[2]
#: the guarded child's address-space limit and wall-clock limit
CHILD_MEMORY = 1536 << 20
CHILD_SECONDS = 20
#: the host's own settings must not leak into a case
CLEARED_ENV = ("VFX_DOUBLE_KEYRING", "VFX_DOUBLE_DEBUG", "OCIO")
#: the guarded child: the CLI in-process, then its peak RSS (KiB) into $VFX_MATRIX_RSS.
#: VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork + exec, so a child of a
#: large pytest process would report the parent's size.
CHILD = """\
import os, sys
from vfx_double.cli import main
try:
    code = main(sys.argv[1:])
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["VFX_MATRIX_RSS"], "w") as f:
        f.write(peak)
sys.exit(code)
"""
DROP_ROOT = ("setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override")


def _places(shot: MiniShot) -> dict[str, str]:
    return {"config": str(shot.config), "keyring": str(shot.keyring),
            "licence": str(shot.licence), "root": str(shot.root),
            "work": str(work_area(shot)), "audit": str(work_area(shot) / "audit.jsonl")}


def _footage(shot: MiniShot) -> dict[str, str]:
    """Every plate and reference file: its sha256, or what it is when not a regular file
    (a link to /dev/zero must not be read)."""
    found: dict[str, str] = {}
    for folder in (shot.plate_dir, shot.root / "ref"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                found[path.name] = f"link to {os.readlink(path)}"
            elif stat.S_ISREG(mode):
                found[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[path.name] = "not a file"
    return found


def _writable_again(root: Path) -> None:
    for folder in (root, *root.rglob("*")):
        if folder.is_dir() and not folder.is_symlink():
            folder.chmod(folder.stat().st_mode | stat.S_IWUSR)


def _run_here(args: list[str], env: dict[str, str], capfd: pytest.CaptureFixture[str],
              monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capfd.readouterr()
    code = main(args)
    return code, capfd.readouterr().err


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))


def _run_child(case: Case, args: list[str], env: dict[str, str],
               tmp_path: Path) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS in MB) of the CLI in a limited child process."""
    rss_file = tmp_path / "child_rss"
    child_env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    child_env.update(env, VFX_MATRIX_RSS=str(rss_file), OMP_NUM_THREADS="1")
    command = [sys.executable, "-c", CHILD, *args]
    if case.drop_root and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a folder read-only")
        command = [*DROP_ROOT, *command]
    try:
        done = subprocess.run(command, cwd=REPO, env=child_env, capture_output=True, text=True,
                              timeout=CHILD_SECONDS, preexec_fn=_limits)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case.id}: no answer within {CHILD_SECONDS} s (killed)")
    rss = int(rss_file.read_text()) // 1024 if rss_file.is_file() else -1
    return done.returncode, done.stderr, rss


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capfd: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    shot = make_shot(tmp_path / "shot")
    places = _places(shot)
    if case.mutate is not None:
        case.mutate(shot)
    before = _footage(shot)
    args = [a.format(**places) for a in case.args]
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           **{k: v.format(**places) for k, v in case.env.items()}}
    try:
        if case.guarded or case.drop_root:
            code, err, rss = _run_child(case, args, env, tmp_path)
        else:
            (code, err), rss = _run_here(args, env, capfd, monkeypatch), -1
    finally:
        _writable_again(shot.root)

    assert "Traceback" not in err, err
    assert code == case.exit, f"exit {code}, expected {case.exit}: {err}"
    if case.exit == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one line on stderr, found {len(lines)}:\n{err}"
        assert lines[0].startswith("vfx-double: error: "), lines[0]
        line = lines[-1].lower()
        missing = [w for w in (w.format(**places) for w in case.words) if w.lower() not in line]
        assert not missing, f"{missing} not in: {lines[-1]}"
    else:
        assert "error" not in err.lower(), err
    assert _footage(shot) == before, "a plate or reference file changed"
    if case.guarded:
        request.node.user_properties.append(("peak_rss_mb", rss))
        assert rss >= 0, "the child did not report its peak memory"
        assert rss < case.max_rss_mb, f"peak RSS {rss} MB, expected under {case.max_rss_mb} MB"
