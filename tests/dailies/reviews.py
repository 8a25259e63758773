"""Review version folders for the dailies tests and benchmark, laid out as
``vfx-double review`` writes them (contract: ``<work_root>/<show>/<shot>/review/vNNN/``
with the H.264 and ProRes movies, ``plate.mp4``, ``contact.png``, ``thumb.jpg``, the
signed ``licence.json`` and ``report.json``), but from synthetic frames, in seconds.

Every movie frame shows its source frame number big and the word SYNTHETIC (the plate
says PLATE instead: it stands for the original photography), and carries its movie frame
index (0-based, slate included) as :data:`CODE_BITS` black/white blocks along the bottom
edge, so a test can read back from the browser's pixels which frame is on screen
(:data:`READ_CODE_JS`). The review movies are blue-ish, the plate is grey-brown, so a wipe
between them shows where it is.

The tree (``build_reviews``):
- DEMO/sh010: v001 and v002 (v002's "previous" is v001), licence valid today.
- DEMO/sh020: v001 whose licence expired ten days ago (publish must be refused).
Both review movies of every version carry a C2PA manifest signed under a local CA whose
root is the keyring's ``c2pa_trust.pem`` (so their provenance reads Trusted); the plate
is not signed (it is the original photography).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vfx_double.licence import verify as verify_licence
from vfx_double.io.movie import MovieWriter
from vfx_double.keyring import keygen, load_keyring
from vfx_double.provenance.content_credentials import sign_movie
from vfx_double.provenance.signing import load_signing, make_local_ca
from vfx_double.provenance.watermark import Embedder, describe, payload_for

from ..shots import KEY_ID, issue_licence

SHOW = "DEMO"
FPS = 24.0
FIRST = 1001
SLATE_FRAMES = 1
SIZE = (640, 360)
CODE_BITS = 8
CODE_BLOCK = (SIZE[0] // (CODE_BITS + 2), 28)   # (width, height) of one bit's block

#: JavaScript for ``page.evaluate(READ_CODE_JS, "#player")``: the movie frame index the
#: video element shows now, read from its bottom-edge blocks through a canvas
READ_CODE_JS = f"""(selector) => {{
    const v = document.querySelector(selector);
    const c = document.createElement('canvas');
    c.width = {SIZE[0]}; c.height = {SIZE[1]};
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, c.width, c.height);
    let n = 0;
    for (let b = 0; b < {CODE_BITS}; b++) {{
        const x = Math.round(({1} + b + 0.5) * {CODE_BLOCK[0]});
        const y = {SIZE[1]} - Math.round({CODE_BLOCK[1]} / 2);
        const p = g.getImageData(x, y, 1, 1).data;
        if ((p[0] + p[1] + p[2]) / 3 > 128) n |= (1 << ({CODE_BITS} - 1 - b));
    }}
    return n;
}}"""

REVIEW_COLOUR = (40, 70, 170)    # RGB; blue-ish (a test tells it from the plate by blue)
PLATE_COLOUR = (130, 115, 95)    # RGB; grey-brown


@dataclass
class Version:
    show: str
    shot: str
    version: str
    folder: Path
    frames: int
    licence_id: str
    expired: bool

    @property
    def movie(self) -> Path:
        return self.folder / f"{self.shot}_review_{self.version}.mp4"

    @property
    def plate(self) -> Path:
        return self.folder / "plate.mp4"


@dataclass
class ReviewTree:
    root: Path
    work_root: Path
    keyring: Path
    key: Path
    versions: list[Version] = field(default_factory=list)

    def version(self, shot: str, version: str) -> Version:
        for v in self.versions:
            if v.shot == shot and v.version == version:
                return v
        raise KeyError(f"{shot}/{version}")


def frame_image(index: int, *, first: int = FIRST, slate: int = SLATE_FRAMES,
                label: str = "SYNTHETIC", colour: tuple[int, int, int] = REVIEW_COLOUR,
                title: str = "") -> np.ndarray:
    """(h, w, 3) uint8 RGB movie frame ``index`` (0-based; the first ``slate`` are slate)."""
    w, h = SIZE
    image = np.empty((h, w, 3), np.uint8)
    image[:] = colour
    white = (255, 255, 255)
    font = cv2.FONT_HERSHEY_SIMPLEX
    if index < slate:
        image[:] = (20, 20, 20)
        cv2.putText(image, "SLATE", (30, 90), font, 2.0, white, 4, cv2.LINE_AA)
        cv2.putText(image, title, (30, 150), font, 1.0, white, 2, cv2.LINE_AA)
        cv2.putText(image, label, (30, 200), font, 1.0, white, 2, cv2.LINE_AA)
    else:
        number = str(first + index - slate)
        cv2.putText(image, number, (40, 210), font, 5.0, white, 12, cv2.LINE_AA)
        cv2.putText(image, label, (40, 60), font, 1.4, white, 3, cv2.LINE_AA)
        cv2.putText(image, title, (40, 280), font, 0.8, white, 2, cv2.LINE_AA)
    # the frame index as blocks, most significant bit first, one block margin each side
    bw, bh = CODE_BLOCK
    image[h - bh:, :] = 0
    for b in range(CODE_BITS):
        if index >> (CODE_BITS - 1 - b) & 1:
            image[h - bh:, (1 + b) * bw:(2 + b) * bw] = 255
    return image


def _write_movie(path: Path, frames: int, *, codec: str = "h264",
                 watermark: Embedder | None = None, **look: object) -> None:
    with MovieWriter(path, FPS, SIZE, codec=codec) as movie:
        for i in range(frames):
            image = frame_image(i, **look)  # type: ignore[arg-type]
            if watermark is not None:
                marked = watermark.embed(image.astype(np.float32) / 255)
                image = np.round(marked * 255).astype(np.uint8)
            if codec == "prores":
                image = image.astype(np.uint16) * 257
            movie.add(image)


def _write_stills(folder: Path, frames: int, title: str, colour: tuple[int, int, int]) -> None:
    middle = frame_image(SLATE_FRAMES + frames // 2, title=title, colour=colour)
    thumb = cv2.resize(middle, (320, 180), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(folder / "thumb.jpg"), cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR))
    picks = np.linspace(SLATE_FRAMES, SLATE_FRAMES + frames - 1, 4).astype(int)
    tiles = [cv2.resize(frame_image(int(i), title=title, colour=colour), (320, 180))
             for i in picks]
    sheet = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
    cv2.imwrite(str(folder / "contact.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def _report(v: Version, lic: Path, n: int) -> dict:
    licence = json.loads(lic.read_text())["licence"]
    digest = hashlib.sha256(f"{v.shot}/{v.version}".encode()).hexdigest()
    return {
        "schema": "ReviewReport.1", "show": v.show, "shot": v.shot, "version": v.version,
        "comp": "v001", "render": "v001", "train_run": "run-001",
        "first": FIRST, "last": FIRST + v.frames - 1, "fps": FPS,
        "width": SIZE[0], "height": SIZE[1], "slate_frames": SLATE_FRAMES,
        "created": dt.datetime(2026, 12, 3, 7, n, tzinfo=dt.timezone.utc).isoformat(),
        "licence": {"id": licence["licence_id"], "actor": licence["actor"],
                    "valid_from": licence["valid_from"],
                    "valid_until": licence["valid_until"], "uses": licence["uses"],
                    "shows": licence["shows"]},
        "model_hash": digest, "config_hash": hashlib.sha256(digest.encode()).hexdigest(),
        "display": {"config": "ocio://studio-config-latest", "display": "sRGB - Display",
                    "view": "ACES 1.0 - SDR Video"},
        "movies": {"h264": v.movie.name, "prores": f"{v.shot}_review_{v.version}.mov",
                   "plate": "plate.mp4"},
        "contact_sheet": "contact.png", "thumbnail": "thumb.jpg",
        "sidecar": "frames.manifest.json",
        "synthetic": True,
        "metrics": {"tracking": {"frames": v.frames, "found": v.frames},
                    "training": {"steps": 60, "loss": 0.031},
                    "comp": {"psnr_outside_face": 48.5}},
        "cost": {"cpu_hours": round(0.05 * n, 3), "gpu_hours": 0.0,
                 "by_stage": {"track": {"cpu_hours": 0.01, "gpu_hours": 0.0},
                              "train": {"cpu_hours": round(0.05 * n - 0.01, 3),
                                        "gpu_hours": 0.0}}},
    }


def build_reviews(root: Path, *, frames: int = 48, prores: bool = True) -> ReviewTree:
    """The review tree under ``root`` (``root/work`` is the work root, ``root/keyring``
    the studio keyring that trusts the licences' issuer)."""
    root = Path(root)
    private, public = keygen(root / "keys", KEY_ID)
    keyring = root / "keyring"
    keyring.mkdir(parents=True)
    shutil.copy(public, keyring / public.name)
    today = dt.date.today()
    licences = {
        "sh010": issue_licence(private, root / "licences" / "sh010.json", shows=(SHOW,),
                               licence_id="LIC-0010", media=()),
        "sh020": issue_licence(private, root / "licences" / "sh020.json", shows=(SHOW,),
                               licence_id="LIC-0020", media=(),
                               valid_from=today - dt.timedelta(days=60),
                               valid_until=today - dt.timedelta(days=10)),
    }
    signing, trust = make_local_ca(root / "c2pa", name="vfx_double dailies tests")
    shutil.copy(trust, keyring / trust.name)
    credentials = load_signing(signing)
    tree = ReviewTree(root, root / "work", keyring, private)
    for n, (shot, version) in enumerate([("sh010", "v001"), ("sh010", "v002"),
                                         ("sh020", "v001")], start=1):
        folder = tree.work_root / SHOW / shot / "review" / version
        folder.mkdir(parents=True)
        lic = licences[shot]
        v = Version(SHOW, shot, version, folder, frames,
                    json.loads(lic.read_text())["licence"]["licence_id"], shot == "sh020")
        title = f"{SHOW} {shot} {version}"
        # each version its own shade, so "previous" differs from the current one on screen
        colour = (REVIEW_COLOUR[0] + 30 * (n - 1), REVIEW_COLOUR[1], REVIEW_COLOUR[2])
        # the review movies carry the licence's watermark, as review writes them (the
        # C2PA check reads it back from the pictures); the plate carries none
        mark = Embedder(payload_for(v.licence_id, int(version[1:])), SIZE)
        _write_movie(v.movie, SLATE_FRAMES + frames, title=title, colour=colour,
                     watermark=mark)
        if prores:
            _write_movie(folder / f"{shot}_review_{version}.mov", SLATE_FRAMES + frames,
                         codec="prores", title=title, colour=colour, watermark=mark)
        _write_movie(v.plate, SLATE_FRAMES + frames, label="PLATE", colour=PLATE_COLOUR,
                     title=f"{SHOW} {shot} plate")
        _write_stills(folder, frames, title, colour)
        shutil.copy(lic, folder / "licence.json")
        report = _report(v, lic, n) | {"watermark": describe(mark.payload)}
        (folder / "report.json").write_text(json.dumps(report, indent=2))
        # the plate's still as the manifests' ingredient, outside the review folder
        still = root / "stills" / f"{shot}_{version}_plate.jpg"
        still.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(still), cv2.cvtColor(frame_image(SLATE_FRAMES, label="PLATE",
                                                         colour=PLATE_COLOUR), cv2.COLOR_RGB2BGR))
        record = verify_licence(lic, load_keyring(keyring))
        for movie in [v.movie] + ([folder / report["movies"]["prores"]] if prores else []):
            sign_movie(movie, credentials=credentials, title=movie.name, licence=record,
                       plate_ingredient=still, report=report)
        tree.versions.append(v)
    return tree
