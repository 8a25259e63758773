"""``vfx-double verify``'s checks, one :class:`Verdict` per file:

- a review movie (.mp4, .mov): its C2PA state (:mod:`.content_credentials`), the licence
  assertion in it, and the watermark read from its pixels (:mod:`.watermark`), whose
  licence hash must be the manifest licence id's and whose payload the manifest's;
- a comp EXR: the provenance attributes in its header (``vfx_double/licenceId``,
  ``configHash``, ``synthetic`` = 1, ``modelHash``) and the signed sidecar manifest
  (:mod:`.sidecar`) of a review of its shot that lists it: the comp frame lives at
  ``<shot>/comp/vNNN/<file>``, the sidecars at ``<shot>/review/vNNN/frames.manifest.json``
  (the newest that lists the frame is used);
- a sidecar manifest (.json): its signature and every frame it lists.

``ok`` is True for Trusted and Valid (signed and intact; Valid: the signer is not in the
trust list), False for Invalid and Missing. A cross-check that fails (a watermark of
another licence, a header that disagrees with its sidecar) makes the file Invalid, so a
publish gate that wants Trusted never passes it. Trust anchors come from the keyring folder
only (:func:`.signing.trust_anchors`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MediaError
from ..face.element import PREFIX
from ..io.exr import read_header
from . import watermark
from .content_credentials import LICENCE_LABEL, MOVIE_FORMATS, ManifestState, read_movie_manifest
from .sidecar import NAME as SIDECAR_NAME
from .sidecar import check_sidecar
from .signing import trust_anchors

#: header attributes (under vfx_double/) every synthetic frame must carry
EXR_ATTRIBUTES = ("licenceId", "configHash", "synthetic", "modelHash")


@dataclass(frozen=True)
class Verdict:
    """One file's answer: ``kind`` ("movie", "exr" or "sidecar"), ``state`` (Trusted,
    Valid, Invalid, Missing), ``ok``, the one ``line`` the CLI prints and the ``details``
    behind it (JSON-ready)."""

    path: Path
    kind: str
    state: str
    ok: bool
    line: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "kind": self.kind, "state": self.state, "ok": self.ok,
                "line": self.line, "details": self.details}


def verify_file(path: Path, *, keyring: Path | None = None) -> Verdict:
    """Verify one movie, comp EXR or sidecar manifest; MediaError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(str(path), "a file to verify",
                         "a folder" if path.is_dir() else "no such file")
    suffix = path.suffix.lower()
    anchors = trust_anchors(keyring)
    if suffix in MOVIE_FORMATS:
        return _movie(path, anchors)
    if suffix == ".exr":
        return _exr(path, anchors)
    if suffix == ".json":
        return _verdict(path, "sidecar", check_sidecar(path, anchors=anchors), [])
    raise MediaError(str(path), f"a review movie ({', '.join(MOVIE_FORMATS)}), a comp EXR or "
                     f"a {SIDECAR_NAME}", repr(suffix or "no extension"))


def _verdict(path: Path, kind: str, state: ManifestState, problems: list[str],
             notes: list[str] | None = None, details: dict[str, Any] | None = None) -> Verdict:
    """A broken cross-check turns an intact state into Invalid; the line names the first
    problem (the rest are in ``details``)."""
    final = "Invalid" if problems and state.ok else state.state
    reason = problems[0] if problems else state.reason
    line = "; ".join([f"{path}: {kind} {final}: {reason}", *(notes or [])])
    return Verdict(path, kind, final, final in ("Trusted", "Valid"), line,
                   {"state": state.state, "reason": state.reason, "problems": problems,
                    "licence_id": state.licence_id, **(details or {})})


def _movie(path: Path, anchors: bytes | None) -> Verdict:
    state = read_movie_manifest(path, anchors=anchors)
    problems: list[str] = []
    notes: list[str] = []
    if state.ok and state.licence_id is None:
        problems.append(f"signed, but no licence assertion ({LICENCE_LABEL})")
    if state.licence_id:
        notes.append(f"licence {state.licence_id}")
    mark, note, problem = _watermark(path, state)
    notes.append(note)
    if problem and state.ok:
        problems.append(problem)
    return _verdict(path, "movie", state, problems, notes, {"watermark": mark})


def _watermark(path: Path, state: ManifestState) -> tuple[dict[str, Any], str, str | None]:
    """(details, note for the line, problem or None): the payload read from the pixels
    against the one the manifest records and the licence id it names."""
    recorded = state.watermark
    try:
        reading = watermark.read_movie(path)
    except MediaError as err:
        return {"recorded": recorded, "error": err.one_line()}, "watermark unreadable", (
            f"the watermark cannot be read ({err.one_line()})")
    found = watermark.describe(reading.payload) if reading.payload is not None else None
    details = {"recorded": recorded, "read": found, "frames": reading.frames,
               "confidence": reading.confidence}
    if found is None:
        note = "no watermark read"
        problem = (f"the manifest records watermark {recorded} but none reads from the "
                   "pictures" if recorded else None)
        return details, note, problem
    assert reading.payload is not None
    note = f"watermark {found['payload']} (licence hash {found['licence_hash']}, " \
           f"version {found['version']})"
    if state.licence_id is not None:
        expected = watermark.payload_for(state.licence_id, found["version"])
        if reading.payload[:6] != expected[:6]:
            return details, note, (f"the watermark's licence hash {found['licence_hash']} is "
                                   f"not licence {state.licence_id}'s {expected[:6].hex()}")
    if recorded is not None and found["payload"] != recorded:
        return details, note, (f"the watermark {found['payload']} is not the manifest's "
                               f"{recorded}")
    return details, note, None


def _exr(path: Path, anchors: bytes | None) -> Verdict:
    header = read_header(path)
    attrs = {name: header.attribute(PREFIX + name) for name in EXR_ATTRIBUTES}
    details: dict[str, Any] = {"header": attrs}
    missing = [PREFIX + name for name, value in attrs.items() if value in (None, "")]
    if missing:
        return _verdict(path, "exr", ManifestState(
            "Missing", f"no provenance attributes {', '.join(missing)} in the header"), [],
            details=details)
    sidecar, state = _find_sidecar(path, anchors)
    details["sidecar"] = str(sidecar) if sidecar else None
    problems = []
    if attrs["synthetic"] != 1:
        problems.append(f"{PREFIX}synthetic is {attrs['synthetic']!r}, not 1 (this tool's "
                        "frames are synthetic)")
    if state.licence_id is not None and state.licence_id != attrs["licenceId"]:
        problems.append(f"the header's licence {attrs['licenceId']} is not the sidecar's "
                        f"{state.licence_id}")
    notes = [f"licence {attrs['licenceId']}", f"model {str(attrs['modelHash'])[:12]}"]
    if sidecar is not None:
        notes.append(f"sidecar {sidecar}")
    return _verdict(path, "exr", state, problems, notes, details)


def _find_sidecar(frame: Path, anchors: bytes | None) -> tuple[Path | None, ManifestState]:
    """The newest review sidecar of the frame's shot that lists it, and its state."""
    resolved = frame.resolve()
    shot_dir = resolved.parents[2] if len(resolved.parents) > 2 else resolved.parent
    candidates = sorted((shot_dir / "review").glob(f"v*/{SIDECAR_NAME}"),
                        key=lambda p: (len(p.parent.name), p.parent.name), reverse=True)
    for sidecar in candidates:
        state = check_sidecar(sidecar, anchors=anchors, frame=resolved)
        if state.state != "Missing":
            return sidecar, state
    looked = f"{shot_dir / 'review'}/v*/{SIDECAR_NAME}"
    return None, ManifestState("Missing", f"no signed sidecar lists this frame (looked in "
                                          f"{looked}: {len(candidates)} found)")
