"""The JSON API (``/api/``): versions, notes pinned to frames, status, publishing,
playlists and their OpenTimelineIO export. Sign-in by session or bearer token."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import otio_export
from .context import session, state
from .models import STATUS_LABELS, STATUSES, Note, Playlist, PlaylistItem, Version, note_record
from .models import utcnow
from .publishing import publish
from .versions import checks, get_version, version_record

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_NOTE = 4000


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description="Expected a JSON object body (Content-Type: application/json).")
    return data


@bp.get("/versions")
@login_required
def versions() -> Any:
    rows = session().scalars(select(Version).order_by(Version.id)).all()
    return jsonify(versions=[version_record(v) for v in rows])


@bp.get("/versions/<int:version_id>")
@login_required
def version(version_id: int) -> Any:
    v = get_version(session(), version_id)
    result = checks(v)
    return jsonify(version_record(v) | {
        "notes": [note_record(n) for n in v.notes],
        "licence": {"ok": result.licence.ok, "text": result.licence.text},
        "provenance": {"ok": result.provenance.ok, "state": result.provenance.state,
                       "text": result.provenance.text}})


@bp.get("/versions/<int:version_id>/notes")
@login_required
def notes(version_id: int) -> Any:
    v = get_version(session(), version_id)
    return jsonify(notes=[note_record(n) for n in v.notes])


@bp.post("/versions/<int:version_id>/notes")
@login_required
def add_note(version_id: int) -> Any:
    s = session()
    v = get_version(s, version_id)
    data = _body()
    frame, text = data.get("frame"), data.get("text")
    first, last = int(v.report["first"]), int(v.report["last"])   # checked by the catalog
    if not isinstance(frame, int) or isinstance(frame, bool) or not first <= frame <= last:
        abort(400, description=f"frame: expected a source frame number {first}-{last}, "
                               f"found {frame!r}.")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_NOTE:
        abort(400, description=f"text: expected 1-{MAX_NOTE} characters of note text.")
    note = Note(version=v, frame=frame, text=text.strip(), author=current_user.name,
                created=utcnow())
    s.add(note)
    s.commit()
    return jsonify(note_record(note)), 201


@bp.post("/versions/<int:version_id>/status")
@login_required
def set_status(version_id: int) -> Any:
    s = session()
    v = get_version(s, version_id)
    status = _body().get("status")
    if status not in STATUSES:
        abort(400, description=f"status: expected one of {', '.join(STATUSES)}, found "
                               f"{status!r}.")
    v.status, v.status_by, v.status_at = status, current_user.name, utcnow()
    s.commit()
    return jsonify(version_record(v) | {"label": STATUS_LABELS[status]})


@bp.post("/versions/<int:version_id>/publish")
@login_required
def publish_version(version_id: int) -> Any:
    s = session()
    v = get_version(s, version_id)
    outcome = publish(v, current_user.name)
    if not outcome.published:
        return jsonify(error=outcome.message), 409
    s.commit()
    return jsonify(published=True, message=outcome.message, **{
        k: version_record(v)[k] for k in ("published_at", "published_by")})


def _playlist_record(p: Playlist) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "versions": [i.version_id for i in p.items]}


@bp.get("/playlists")
@login_required
def playlists() -> Any:
    rows = session().scalars(select(Playlist).order_by(Playlist.name)).all()
    return jsonify(playlists=[_playlist_record(p) for p in rows])


@bp.post("/playlists")
@login_required
def add_playlist() -> Any:
    s = session()
    data = _body()
    name, ids = data.get("name"), data.get("versions")
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        abort(400, description="name: expected 1-120 characters.")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        abort(400, description="versions: expected a list of version ids.")
    playlist = Playlist(name=name.strip())
    for position, version_id in enumerate(ids):
        playlist.items.append(PlaylistItem(version=get_version(s, version_id),
                                           position=position))
    s.add(playlist)
    try:
        s.commit()
    except IntegrityError:
        abort(409, description=f"A playlist named {name!r} exists already.")
    return jsonify(_playlist_record(playlist)), 201


@bp.get("/playlists/<int:playlist_id>/otio")
@login_required
def playlist_otio(playlist_id: int) -> Any:
    playlist = session().get(Playlist, playlist_id)
    if playlist is None:
        abort(404, description=f"Playlist {playlist_id} does not exist.")
    return Response(otio_export.to_json(playlist, state().work_root),
                    mimetype="application/json", headers={
                        "Content-Disposition": f'attachment; filename="playlist-{playlist.id}.otio"'})
