"""The dailies database: users and their API tokens, the catalog (shows, shots, versions
found in the work root), notes pinned to frames, status and publishing, playlists.

SQLAlchemy 2 declarative models; the schema itself is made and changed only by Alembic
(``migrations/``), never by ``create_all``, so SQLite and PostgreSQL databases carry the
same revisions. Times are stored in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: the statuses a version can have, in the order the UI offers them; "pending" is shown as
#: "pending review"
STATUSES = ("pending", "viewed", "approved", "retake")
#: the report's ``movies`` entries (the other files it names sit at its top level)
MOVIE_KEYS = ("h264", "prores", "plate")
STATUS_LABELS = {"pending": "pending review", "viewed": "viewed", "approved": "approved",
                 "retake": "retake"}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands timestamps back naive; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


class Base(DeclarativeBase):
    # Named constraints: Alembic can alter them later on both SQLite (batch mode) and
    # PostgreSQL, and both databases get the same names.
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    #: werkzeug.security's salted hash; never the password
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # Flask-Login's user protocol
    is_active = True
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


class ApiToken(Base):
    """A bearer token for scripts: only its sha256 is kept (a long random secret needs no
    slow password hash; the digest lets a request find its token with one lookup)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship()


class Show(Base):
    __tablename__ = "shows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)

    shots: Mapped[list[Shot]] = relationship(back_populates="show", order_by="Shot.name")


class Shot(Base):
    __tablename__ = "shots"
    __table_args__ = (UniqueConstraint("show_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))

    show: Mapped[Show] = relationship(back_populates="shots")
    versions: Mapped[list[Version]] = relationship(back_populates="shot",
                                                   order_by="Version.number")


class Version(Base):
    """One review version folder (``<show>/<shot>/review/vNNN``) and what its report says."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("shot_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shot_id: Mapped[int] = mapped_column(ForeignKey("shots.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(16))            # "v003"
    number: Mapped[int] = mapped_column(Integer)              # 3, for ordering
    #: the version folder relative to the work root, POSIX separators
    folder: Mapped[str] = mapped_column(String(512))
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_by: Mapped[str | None] = mapped_column(String(80))
    status_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str | None] = mapped_column(String(80))

    shot: Mapped[Shot] = relationship(back_populates="versions")
    notes: Mapped[list[Note]] = relationship(back_populates="version",
                                             order_by="(Note.frame, Note.id)")

    @property
    def label(self) -> str:
        return f"{self.shot.show.name}/{self.shot.name}/{self.name}"

    def file(self, key: str) -> str | None:
        """A file the report names, relative to the work root: a movie (``"h264"``,
        ``"plate"``, ``"prores"``) or ``"thumbnail"`` / ``"contact_sheet"``; None when the
        report names none."""
        names = (self.report.get("movies") or {}) if key in MOVIE_KEYS else self.report
        name = names.get(key)
        return f"{self.folder}/{name}" if isinstance(name, str) and name else None


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"),
                                            index=True)
    frame: Mapped[int] = mapped_column(Integer)               # the source frame number
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(80))
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    version: Mapped[Version] = relationship(back_populates="notes")


class Playlist(Base):
    __tablename__ = "playlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    items: Mapped[list[PlaylistItem]] = relationship(order_by="PlaylistItem.position",
                                                     cascade="all, delete-orphan")


class PlaylistItem(Base):
    __tablename__ = "playlist_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    playlist_id: Mapped[int] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)

    version: Mapped[Version] = relationship()


def note_record(note: Note) -> dict[str, Any]:
    created = as_utc(note.created)
    return {"id": note.id, "frame": note.frame, "text": note.text, "author": note.author,
            "time": created.isoformat(timespec="seconds") if created else None}
