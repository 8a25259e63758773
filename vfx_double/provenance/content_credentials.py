"""C2PA Content Credentials on review movies (H.264 .mp4, ProRes .mov): signing and reading,
through c2pa-python (the c2pa-rs SDK).

The manifest says what a review movie is:
- ``c2pa.actions.v2``: ``c2pa.created`` by vfx_double with the IPTC digital source type
  *compositeWithTrainedAlgorithmicMedia* (photography with a trained model's face
  composited in), and ``c2pa.placed`` of the plate (the original photography; a
  representative frame or thumbnail of it is the ``componentOf`` ingredient).
- ``c2pa.training-mining``: every use ``notAllowed``; the likeness is licensed for this
  show, not for training anyone's model.
- :data:`LICENCE_LABEL`: the licence (id, actor, validity, shows, uses), the model and
  config hashes and the watermark payload, so the movie names the consent it was made under
  and a reader can cross-check the watermark in the pixels.

State on reading (c2pa-rs's own ``validation_state``): **Trusted** when the signature,
the hard binding to the movie's bytes and every assertion hash check out and the signer
chains to one of our trust anchors; **Valid** when all that holds but the signer is not
in the trust list (c2pa-rs reports ``signingCredential.untrusted`` as a failure yet keeps
the state Valid); **Invalid** for anything else (e.g. ``assertion.bmffHash.mismatch``
once a byte of the picture changes); **Missing** when the file has no manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa

from .. import __version__
from ..errors import MediaError, ProvenanceError
from ..io import atomic
from ..licence import Licence
from .signing import SigningCredentials

DIGITAL_SOURCE_TYPE = ("http://cv.iptc.org/newscodes/digitalsourcetype/"
                       "compositeWithTrainedAlgorithmicMedia")
LICENCE_LABEL = "com.vfxdouble.licence"
LICENCE_SCHEMA = "LicenceAssertion.1"
#: every use the C2PA training-and-data-mining assertion names, each refused
TRAINING_MINING = {use: {"use": "notAllowed"} for use in (
    "c2pa.ai_generative_training", "c2pa.ai_inference", "c2pa.ai_training", "c2pa.data_mining")}
MOVIE_FORMATS = {".mp4": "video/mp4", ".mov": "video/quicktime"}
_IMAGE_FORMATS = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
STATES = ("Trusted", "Valid", "Invalid", "Missing")
#: the report fields the licence assertion needs (review's ReviewReport.1); its
#: ``watermark`` may be None (a review made with the watermark off)
_REPORT_FIELDS = ("model_hash", "config_hash")


@dataclass(frozen=True)
class ManifestState:
    """What a file's provenance manifest says. ``state`` is one of :data:`STATES`;
    ``reason`` one line on why; ``licence_id`` and ``watermark`` (the payload hex) come
    from the licence assertion (None when absent); ``manifest`` is the active manifest
    (for a sidecar, its record)."""

    state: str
    reason: str
    licence_id: str | None = None
    watermark: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Signed and intact (Trusted, or Valid: intact but the signer is not trusted)."""
        return self.state in ("Trusted", "Valid")


def movie_format(path: Path) -> str:
    """The MIME type c2pa-rs signs ``path`` as; only review movie containers."""
    try:
        return MOVIE_FORMATS[Path(path).suffix.lower()]
    except KeyError:
        raise MediaError(str(path), f"a movie ({', '.join(MOVIE_FORMATS)})",
                         repr(Path(path).suffix or "no extension")) from None


def licence_assertion(licence: Licence, report: dict[str, Any]) -> dict[str, Any]:
    """The :data:`LICENCE_LABEL` assertion's data from the licence and review's report."""
    missing = [name for name in _REPORT_FIELDS if not report.get(name)]
    if missing:
        raise ProvenanceError(f"review report (field {missing[0]})",
                              f"{', '.join(_REPORT_FIELDS)} for the licence assertion",
                              "none", "sign the movie with the review's report")
    return {
        "schema": LICENCE_SCHEMA,
        "licence_id": licence.licence_id,
        "actor": licence.actor,
        "licensor": licence.licensor,
        "licensee": licence.licensee,
        "shows": list(licence.shows),
        "uses": list(licence.uses),
        "valid_from": licence.valid_from.isoformat(),
        "valid_until": licence.valid_until.isoformat(),
        "issuer_key_id": licence.issuer_key_id,
        "model_hash": report["model_hash"],
        "config_hash": report["config_hash"],
        "watermark": report.get("watermark"),
        **{k: report[k] for k in ("show", "shot", "version") if k in report},
        "synthetic": True,
    }


def manifest_definition(title: str, licence: Licence, report: dict[str, Any], *,
                        plate: bool) -> dict[str, Any]:
    """The manifest c2pa-rs builds from (its JSON manifest-definition format)."""
    actions: list[dict[str, Any]] = [{
        "action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE,
        "softwareAgent": {"name": "vfx_double", "version": __version__},
        "description": "plate with a licensed digital double's face composited in (SYNTHETIC)",
    }]
    if plate:
        actions.append({"action": "c2pa.placed", "digitalSourceType": DIGITAL_SOURCE_TYPE,
                        "parameters": {"ingredientIds": ["plate"]}})
    return {
        "claim_generator_info": [{"name": "vfx_double", "version": __version__}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {"label": "c2pa.training-mining", "data": {"entries": TRAINING_MINING}},
            {"label": LICENCE_LABEL, "data": licence_assertion(licence, report)},
        ],
    }


def _context(anchors: bytes | None) -> c2pa.Context:
    """c2pa-rs settings: trust only ``anchors`` and never reach the network (no remote
    manifests, no OCSP), since nothing here downloads at run time."""
    settings: dict[str, Any] = {"verify": {"verify_trust": True, "remote_manifest_fetch": False,
                                           "ocsp_fetch": False}}
    if anchors:
        settings["trust"] = {"trust_anchors": anchors.decode("ascii")}
    return c2pa.Context.from_dict(settings)


def sign_movie(path: Path, *, credentials: SigningCredentials, title: str, licence: Licence,
               plate_ingredient: Path | None, report: dict[str, Any]) -> None:
    """Embed a signed C2PA manifest in the movie at ``path``, in place: signed into a temp
    file beside it, then renamed over it, so a reader sees the unsigned or the signed
    movie, never half of one. ``plate_ingredient`` is a JPEG or PNG of the plate."""
    path = Path(path)
    fmt = movie_format(path)
    if not path.is_file():
        raise MediaError(str(path), "a movie to sign", "no such file")
    definition = manifest_definition(title, licence, report, plate=plate_ingredient is not None)
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
            credentials.alg, credentials.chain_pem, credentials.key_pem, None))
    except c2pa.C2paError as err:
        raise ProvenanceError(credentials.where, "a signer c2pa accepts", str(err)) from err
    try:
        with c2pa.Builder(definition, context=_context(None)) as builder:
            if plate_ingredient is not None:
                _add_plate(builder, Path(plate_ingredient))
            with atomic.atomic_path(path) as tmp, open(path, "rb") as source, \
                    open(tmp, "w+b") as dest:
                builder.sign(signer, fmt, source, dest)
    except c2pa.C2paError as err:
        raise ProvenanceError(str(path), f"a C2PA manifest signed by {credentials.where}",
                              f"c2pa refused: {err}",
                              "check the signing certificate (see load_signing)") from err
    finally:
        signer.close()


def _add_plate(builder: c2pa.Builder, plate: Path) -> None:
    fmt = _IMAGE_FORMATS.get(plate.suffix.lower())
    if fmt is None or not plate.is_file():
        raise MediaError(str(plate), "a JPEG or PNG of the plate (the C2PA ingredient)",
                         "no such file" if fmt else repr(plate.suffix))
    with open(plate, "rb") as stream:
        builder.add_ingredient({"title": plate.name, "relationship": "componentOf",
                                "label": "plate",
                                "description": "the original photography (plate)"},
                               fmt, stream)


def read_movie_manifest(path: Path, *, anchors: bytes | None) -> ManifestState:
    """The C2PA state of a movie against ``anchors`` (PEM roots; None trusts nothing)."""
    path = Path(path)
    fmt = movie_format(path)
    if not path.is_file():
        raise MediaError(str(path), "a movie", "no such file")
    try:
        with open(path, "rb") as stream:
            reader = c2pa.Reader.try_create(fmt, stream, context=_context(anchors))
            if reader is None:
                return ManifestState("Missing", "no C2PA manifest")
            with reader:
                data = json.loads(reader.json())
    except c2pa.C2paError as err:
        return ManifestState("Invalid", f"the C2PA manifest cannot be read ({err})")
    return _state(data)


def _state(data: dict[str, Any]) -> ManifestState:
    manifest = data.get("manifests", {}).get(data.get("active_manifest"), {})
    failures = (data.get("validation_results", {}).get("activeManifest", {})
                .get("failure", []))
    state = data.get("validation_state")
    licence: dict[str, Any] = next((a.get("data", {}) for a in manifest.get("assertions", [])
                    if a.get("label") == LICENCE_LABEL), {})
    info = manifest.get("signature_info", {})
    signer = f"{info.get('common_name', '?')} ({info.get('issuer', '?')})"
    if state == "Trusted":
        reason = f"signed by {signer}, a signer in the trust list; intact"
    elif state == "Valid":
        reason = f"signed by {signer} and intact, but the signer is not in the trust list"
    else:
        state = "Invalid"
        codes = "; ".join(f"{f.get('code')}: {f.get('explanation', '')}".strip(": ")
                          for f in failures) or "no reason given"
        reason = f"signed by {signer} but broken: {codes}"
    watermark = licence.get("watermark")
    return ManifestState(state, reason, licence.get("licence_id"),
                         watermark.get("payload") if isinstance(watermark, dict) else None,
                         manifest)
