"""Media files for the player: served only from review version folders inside the work
root (``<show>/<shot>/review/vNNN/<file>``), with HTTP Range (werkzeug's conditional
responses) so the browser can seek without downloading the movie. Anything else, a path
that leaves the work root (``..``, a symlink out) included, is a 404 and a log line; the
database file beside the review folders is never reachable."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, request, send_file
from flask_login import current_user, login_required

from .context import state

bp = Blueprint("media", __name__)
log = logging.getLogger(__name__)
#: what a review folder holds that a browser may fetch
SUFFIXES = {".mp4", ".mov", ".jpg", ".jpeg", ".png", ".json", ".otio"}


def resolve(work_root: Path, relative: str) -> Path | None:
    """The file ``relative`` names when it is a review folder file inside ``work_root``."""
    root = work_root.resolve()
    try:
        path = (root / relative).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_relative_to(root):
        return None
    parts = path.relative_to(root).parts
    if (len(parts) != 5 or parts[2] != "review" or not parts[3].startswith("v")
            or any(p.startswith(".") for p in parts) or path.suffix.lower() not in SUFFIXES
            or not path.is_file()):
        return None
    return path


@bp.route("/media/<path:relative>")
@login_required
def serve(relative: str) -> Any:
    path = resolve(state().work_root, relative)
    if path is None:
        log.warning("dailies media: refused %r for %s from %s: not a review file inside the "
                    "work root %s", relative, current_user.name, request.remote_addr,
                    state().work_root)
        abort(404, description="No such review file.")
    # conditional: Range -> 206 with Content-Range, If-None-Match/If-Modified-Since -> 304
    return send_file(path, conditional=True, max_age=0)
