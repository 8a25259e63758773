"""The two checks shown as badges on a version and required for publishing: its licence
(the review folder's ``licence.json`` signed by a key in the studio keyring, for this show,
valid today) and its provenance (the review movie's C2PA manifest, Trusted)."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import VfxDoubleError
from ..keyring import load_keyring
from ..licence import verify


@dataclass(frozen=True)
class Badge:
    ok: bool
    text: str            # what the page shows: the licence id and date, or the reason
    state: str = ""      # provenance only: Trusted / Valid / Invalid / Missing

    @property
    def data_state(self) -> str:
        return "ok" if self.ok else "bad"


def licence_badge(folder: Path, report: dict, show: str, keyring: Path | None,
                  today: dt.date) -> Badge:
    path = folder / "licence.json"
    try:
        lic = verify(path, load_keyring(keyring))
    except VfxDoubleError as err:
        return Badge(False, err.one_line())
    named = (report.get("licence") or {}).get("id")
    if named and named != lic.licence_id:
        return Badge(False, f"{path}: the report names licence {named}, the folder holds "
                     f"{lic.licence_id}")
    if show not in lic.shows:
        return Badge(False, f"licence {lic.licence_id} does not cover show {show} "
                     f"(covers {', '.join(lic.shows)})")
    if today < lic.valid_from:
        return Badge(False, f"licence {lic.licence_id} not valid until {lic.valid_from}")
    if today > lic.valid_until:
        return Badge(False, f"licence {lic.licence_id} expired after {lic.valid_until}")
    return Badge(True, f"licence {lic.licence_id} valid until {lic.valid_until}")


_cache: dict[tuple[str, int, int, str], Badge] = {}
_cache_lock = threading.Lock()


def provenance_badge(movie: Path | None, keyring: Path | None) -> Badge:
    """The C2PA verdict on the review movie; only Trusted is ok. Cached per file (path,
    size, modification time): reading a manifest hashes the whole movie."""
    if movie is None or not movie.is_file():
        return Badge(False, f"{movie}: no review movie to check", "Missing")
    stat = movie.stat()
    key = (str(movie), stat.st_size, stat.st_mtime_ns, str(keyring))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    state, line = verify_movie(movie, keyring)
    badge = Badge(state == "Trusted", line, state)
    with _cache_lock:
        _cache[key] = badge
    return badge


def verify_movie(movie: Path, keyring: Path | None) -> tuple[str, str]:
    """``(state, line)`` from :func:`vfx_double.provenance.verify.verify_file`: the one
    place the dailies app calls the C2PA checks."""
    try:
        from ..provenance.verify import verify_file
    except ImportError:
        return "Missing", f"{movie.name}: provenance checks are not installed"
    try:
        verdict = verify_file(movie, keyring=keyring)
    except VfxDoubleError as err:
        return "Invalid", err.one_line()
    # the page names the movie already; the line without its absolute path
    line = verdict.line.removeprefix(f"{movie}: ")
    return verdict.state, line


def clear_cache() -> None:
    """Forget every verdict (a keyring's trust list changed)."""
    with _cache_lock:
        _cache.clear()
