"""``vfx-double dailies``: serve the dailies web app, add users, make API tokens, export a
playlist to OpenTimelineIO. Registered on the command group by :mod:`vfx_double.cli`;
Flask and SQLAlchemy are imported inside the commands, so ``vfx-double --help`` and the
farm's stage commands never load the web stack."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_shot import KEYRING_HELP
from .errors import ConfigError

_WORK_ROOT_HELP = "the work root the review folders are in (default: the current folder)"
_DB_HELP = ("database URL (default: sqlite in the work root, dailies.sqlite; or "
            "postgresql+psycopg://USER@HOST/DB)")


def _work_root(option: Path | None) -> Path:
    return (option or Path.cwd()).resolve()


def _database(work_root: Path, url: str | None):  # type: ignore[no-untyped-def]
    from .dailies.app import open_database

    return open_database(work_root, url)


@click.group()
def dailies() -> None:
    """The dailies web app: review versions, notes, status, publishing."""


@dailies.command()
@click.option("--work-root", type=click.Path(path_type=Path), help=_WORK_ROOT_HELP)
@click.option("--db", "url", help=_DB_HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=16, show_default=True, type=click.IntRange(1, 256),
              help="requests served at once")
@click.option("--keyring", type=click.Path(path_type=Path), help=KEYRING_HELP)
def serve(work_root: Path | None, url: str | None, host: str, port: int, threads: int,
          keyring: Path | None) -> None:
    """Serve the dailies app with waitress (a kept WSGI server). Set
    $VFX_DOUBLE_DAILIES_SECRET to keep sign-ins across restarts."""
    import logging

    from waitress import serve as waitress_serve

    from .dailies.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    root = _work_root(work_root)
    app = create_app(root, url, keyring=keyring)
    click.echo(f"dailies: {root} on http://{host}:{port}/ (Ctrl-C stops)")
    waitress_serve(app, host=host, port=port, threads=threads)


@dailies.group()
def user() -> None:
    """Users who can sign in."""


@user.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin's first line")
@click.option("--work-root", type=click.Path(path_type=Path), help=_WORK_ROOT_HELP)
@click.option("--db", "url", help=_DB_HELP)
def user_add(name: str, password_stdin: bool, work_root: Path | None, url: str | None) -> None:
    """Add a user (the password is stored only as a salted hash)."""
    from .dailies.auth import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    _, factory = _database(_work_root(work_root), url)
    with factory.begin() as session:
        add_user(session, name, password)
    click.echo(f"user {name} added")


@dailies.command()
@click.argument("name")
@click.option("--work-root", type=click.Path(path_type=Path), help=_WORK_ROOT_HELP)
@click.option("--db", "url", help=_DB_HELP)
def token(name: str, work_root: Path | None, url: str | None) -> None:
    """Print a new API token for user NAME (shown once; send it as
    `Authorization: Bearer TOKEN`)."""
    from .dailies.auth import new_token

    _, factory = _database(_work_root(work_root), url)
    with factory.begin() as session:
        secret = new_token(session, name)
    click.echo(secret)


@dailies.group()
def playlist() -> None:
    """Playlists of versions."""


@playlist.command("export")
@click.argument("name")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--work-root", type=click.Path(path_type=Path), help=_WORK_ROOT_HELP)
@click.option("--db", "url", help=_DB_HELP)
def playlist_export(name: str, out: Path, work_root: Path | None, url: str | None) -> None:
    """Write playlist NAME as an OpenTimelineIO file (versions as clips, notes as markers)."""
    from sqlalchemy import select

    from .dailies.models import Playlist
    from .dailies.otio_export import to_json
    from .io.atomic import write_text

    root = _work_root(work_root)
    _, factory = _database(root, url)
    with factory() as session:
        found = session.scalar(select(Playlist).where(Playlist.name == name))
        if found is None:
            names = session.scalars(select(Playlist.name).order_by(Playlist.name)).all()
            raise ConfigError(f"playlist {name!r}", "an existing playlist",
                              f"playlists {', '.join(names) or 'none'}",
                              "make one in the dailies app (POST /api/playlists)")
        text, count = to_json(found, root), len(found.items)
    write_text(out, text)
    click.echo(f"{out}: playlist {name}, {count} versions")
