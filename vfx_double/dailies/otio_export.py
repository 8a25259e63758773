"""A playlist as an OpenTimelineIO timeline: one video track, each version a clip whose
media reference is its review movie and whose notes are markers on their frames.

Media time is the source frame number: the movie's first frame (the slate) is at
``first - slate_frames``, so a clip's source range is ``first..last`` (the slate left out)
and a note on frame 1007 is a marker at 1007.
"""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

from .models import Playlist, Version, as_utc

MARKER_COLOUR = {"pending": otio.schema.MarkerColor.YELLOW,
                 "viewed": otio.schema.MarkerColor.YELLOW,
                 "approved": otio.schema.MarkerColor.GREEN,
                 "retake": otio.schema.MarkerColor.RED}


def version_clip(version: Version, work_root: Path) -> otio.schema.Clip:
    report = version.report
    fps = float(report["fps"])
    first, last = int(report["first"]), int(report["last"])
    slate = int(report.get("slate_frames", 0))
    movie = version.file("h264")
    start = otio.opentime.RationalTime(first - slate, fps)
    reference = otio.schema.ExternalReference(
        target_url=(work_root / movie).as_uri() if movie else "",
        available_range=otio.opentime.TimeRange(
            start, otio.opentime.RationalTime(last - first + 1 + slate, fps)))
    clip = otio.schema.Clip(
        name=version.label, media_reference=reference,
        source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(first, fps),
                                             otio.opentime.RationalTime(last - first + 1, fps)))
    created = as_utc(version.published_at)
    clip.metadata["vfx_double"] = {
        "show": version.shot.show.name, "shot": version.shot.name, "version": version.name,
        "status": version.status, "movie": movie,
        "licence_id": (report.get("licence") or {}).get("id"),
        "published_at": created.isoformat() if created else None,
        "synthetic": bool(report.get("synthetic")),
    }
    for note in version.notes:
        noted = as_utc(note.created)
        marker = otio.schema.Marker(
            name=f"{note.author}: {note.text[:60]}",
            marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(note.frame, fps),
                                                 otio.opentime.RationalTime(1, fps)),
            color=MARKER_COLOUR.get(version.status, otio.schema.MarkerColor.YELLOW))
        marker.metadata["vfx_double"] = {"author": note.author, "text": note.text,
                                         "frame": note.frame,
                                         "time": noted.isoformat() if noted else None}
        clip.markers.append(marker)
    return clip


def playlist_timeline(playlist: Playlist, work_root: Path) -> otio.schema.Timeline:
    track = otio.schema.Track(name="review", kind=otio.schema.TrackKind.Video)
    for item in playlist.items:
        track.append(version_clip(item.version, work_root))
    timeline = otio.schema.Timeline(name=playlist.name)
    timeline.tracks.append(track)
    timeline.metadata["vfx_double"] = {"playlist": playlist.name, "schema": "Playlist.1"}
    return timeline


def to_json(playlist: Playlist, work_root: Path) -> str:
    return otio.adapters.write_to_string(playlist_timeline(playlist, work_root), "otio_json")
