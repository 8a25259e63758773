"""What a page or an API answer says about one version: lookup (404 with a clear message),
its media URLs, the previous version, its badges and its cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from .badges import Badge, licence_badge, provenance_badge
from .context import state
from .models import STATUS_LABELS, Version, as_utc


def get_version(session: Session, version_id: int) -> Version:
    version = session.get(Version, version_id)
    if version is None:
        abort(404, description=f"Version {version_id} does not exist (it may not have been "
                               "scanned yet: open the version list to rescan the work root).")
    return version


def previous(session: Session, version: Version) -> Version | None:
    return session.scalar(select(Version).where(Version.shot_id == version.shot_id,
                                                Version.number < version.number)
                          .order_by(Version.number.desc()).limit(1))


def media_url(relative: str | None) -> str | None:
    return url_for("media.serve", relative=relative) if relative else None


def cost(report: dict[str, Any]) -> tuple[float, float]:
    """(CPU hours, GPU hours) from the report's ``cost``."""
    raw = report.get("cost") or {}
    try:
        return float(raw.get("cpu_hours") or 0.0), float(raw.get("gpu_hours") or 0.0)
    except (TypeError, ValueError, AttributeError):
        return 0.0, 0.0


def cost_text(report: dict[str, Any]) -> str:
    cpu, gpu = cost(report)
    return f"{cpu:.2f} CPU-hours / {gpu:.2f} GPU-hours"


@dataclass(frozen=True)
class Checks:
    licence: Badge
    provenance: Badge

    @property
    def publishable(self) -> bool:
        return self.licence.ok and self.provenance.ok

    @property
    def refusal(self) -> str:
        reasons = [] if self.licence.ok else [f"licence: {self.licence.text}"]
        if not self.provenance.ok:
            reasons.append(f"provenance ({self.provenance.state}): {self.provenance.text}")
        return "Publishing refused: " + "; ".join(reasons)


def checks(version: Version) -> Checks:
    dailies = state()
    folder = dailies.work_root / version.folder
    movie = version.file("h264")
    return Checks(
        licence_badge(folder, version.report, version.shot.show.name, dailies.keyring,
                      dailies.today),
        provenance_badge(dailies.work_root / movie if movie else None, dailies.keyring))


def _iso(value: Any) -> str | None:
    value = as_utc(value)
    return value.isoformat(timespec="seconds") if value else None


def version_record(version: Version) -> dict[str, Any]:
    report = version.report
    cpu, gpu = cost(report)
    return {
        "id": version.id, "show": version.shot.show.name, "shot": version.shot.name,
        "version": version.name, "status": version.status,
        "status_label": STATUS_LABELS.get(version.status, version.status),
        "status_by": version.status_by, "status_at": _iso(version.status_at),
        "published_at": _iso(version.published_at), "published_by": version.published_by,
        "first": report.get("first"), "last": report.get("last"), "fps": report.get("fps"),
        "slate_frames": report.get("slate_frames", 0),
        "licence_id": (report.get("licence") or {}).get("id"),
        "cost": {"cpu_hours": cpu, "gpu_hours": gpu},
        "movie": media_url(version.file("h264")), "plate": media_url(version.file("plate")),
        "thumbnail": media_url(version.file("thumbnail")),
    }
