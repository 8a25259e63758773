"""The dailies web app (``vfx-double dailies serve``): review versions found in the work
root, a player with wipe and frame stepping, status and notes, licence and provenance badges,
OpenTimelineIO playlists."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # the app (and Flask) only when asked for: the models and the CLI import without it
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
