"""Publishing a version: recorded only when its licence and its provenance both pass."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Version, utcnow
from .versions import checks


@dataclass(frozen=True)
class Outcome:
    published: bool
    message: str


def publish(version: Version, user: str) -> Outcome:
    result = checks(version)
    if not result.publishable:
        return Outcome(False, result.refusal)
    if version.published_at is None:
        version.published_at, version.published_by = utcnow(), user
    return Outcome(True, f"Published {version.label} ({result.licence.text}; provenance "
                         f"{result.provenance.state}).")
