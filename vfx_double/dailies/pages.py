"""The HTML pages: the version list (shows -> shots -> versions) and the player."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from . import catalog, db
from .context import session, state
from .models import STATUS_LABELS, Shot, Show, Version, note_record, utcnow
from .versions import checks, cost_text, get_version, media_url, previous

bp = Blueprint("pages", __name__)


@bp.route("/")
@login_required
def index() -> Any:
    # review folders written since the app started appear on the next visit
    with db.writing(state().sessions) as s:
        catalog.scan(s, state().work_root)
    shows = session().scalars(select(Show).order_by(Show.name).options(
        selectinload(Show.shots).selectinload(Shot.versions))).all()
    shot_cost = {shot.id: cost_text(shot.versions[-1].report)
                 for show in shows for shot in show.shots if shot.versions}
    return render_template("index.html", shows=shows, shot_cost=shot_cost,
                           media_url=media_url, labels=STATUS_LABELS)


@bp.route("/versions/<int:version_id>")
@login_required
def player(version_id: int) -> Any:
    s = session()
    version = get_version(s, version_id)
    if version.status == "pending":
        # opening the player is what "viewed" means; a decision is never overwritten
        with db.writing(state().sessions) as w:
            fresh = w.get(Version, version_id)
            if fresh is not None and fresh.status == "pending":
                fresh.status, fresh.status_by, fresh.status_at = ("viewed", current_user.name,
                                                                  utcnow())
        # end the read snapshot (SQLite WAL) so the refresh sees the write above
        s.commit()
        s.refresh(version)
    report = version.report
    before = previous(s, version)
    return render_template(
        "version.html", version=version, report=report, checks=checks(version),
        movie=media_url(version.file("h264")), plate=media_url(version.file("plate")),
        previous=before, previous_movie=media_url(before.file("h264")) if before else None,
        cost=cost_text(report), note_time=lambda n: note_record(n)["time"],
        status_label=STATUS_LABELS.get(version.status,
                                                                version.status))
