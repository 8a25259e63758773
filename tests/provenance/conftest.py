"""Fixtures for the C2PA and verify tests: a local CA (and a second, untrusted one), a
keyring holding the first CA's root, small real movies (H.264 .mp4, ProRes .mov) made
through ffmpeg from synthetic frames labelled SYNTHETIC, a plate still, a licence and the
review report fields the licence assertion carries."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from vfx_double.io.movie import MovieWriter
from vfx_double.licence import Licence
from vfx_double.provenance.signing import TRUST_FILE, make_local_ca

#: the watermark's own reference size, so a few frames of it read back after H.264
SIZE = (512, 288)
FRAMES = 12
LICENCE_ID, VERSION = "LIC-0001", 3


@dataclass(frozen=True)
class Ca:
    signing: Path
    trust: Path
    keyring: Path


def _ca(root: Path, name: str) -> Ca:
    signing, trust = make_local_ca(root, name=name)
    keyring = root / "keyring"
    keyring.mkdir()
    shutil.copy(trust, keyring / TRUST_FILE)
    return Ca(signing, trust, keyring)


@pytest.fixture(scope="session")
def studio_ca(tmp_path_factory: pytest.TempPathFactory) -> Ca:
    return _ca(tmp_path_factory.mktemp("studio_ca"), "Test Studio")


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Ca:
    return _ca(tmp_path_factory.mktemp("other_ca"), "Someone Else")


def synthetic_frame(i: int, dtype: type = np.uint8) -> np.ndarray:
    """(h, w, 3) a moving gradient with the SYNTHETIC label burnt in."""
    w, h = SIZE
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    rgb = np.concatenate([np.broadcast_to((x + i / FRAMES) % 1.0, (h, w, 1)),
                          np.broadcast_to(y, (h, w, 1)), np.full((h, w, 1), 0.4, np.float32)],
                         axis=2)
    rgb = np.ascontiguousarray(rgb)
    cv2.putText(rgb, "SYNTHETIC", (6, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (1, 1, 1), 1)
    scale = np.iinfo(dtype).max
    return (np.clip(rgb, 0, 1) * scale + 0.5).astype(dtype)


def write_movies(folder: Path, payload: bytes) -> dict[str, Path]:
    """``{"h264": review.mp4, "prores": review.mov}`` of synthetic frames watermarked with
    ``payload``, as review writes them (unsigned)."""
    from vfx_double.provenance.watermark import Embedder

    embedder = Embedder(payload, SIZE)
    movies = {}
    for codec, name, dtype in (("h264", "review.mp4", np.uint8),
                               ("prores", "review.mov", np.uint16)):
        scale = np.iinfo(dtype).max
        with MovieWriter(folder / name, 24.0, SIZE, codec=codec) as writer:
            for i in range(FRAMES):
                frame = embedder.embed(synthetic_frame(i, np.uint16).astype(np.float32) / 65535)
                writer.add((frame * scale + 0.5).astype(dtype))
        movies[codec] = folder / name
    return movies


@pytest.fixture(scope="session")
def unsigned_movies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Unsigned review movies watermarked for LIC-0001 v3; copy before changing them."""
    from vfx_double.provenance.watermark import payload_for

    return write_movies(tmp_path_factory.mktemp("movies"), payload_for(LICENCE_ID, VERSION))


@pytest.fixture
def movies(unsigned_movies: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """Fresh copies of the unsigned movies in this test's folder."""
    out = {}
    for codec, path in unsigned_movies.items():
        out[codec] = tmp_path / path.name
        shutil.copy(path, out[codec])
    return out


@pytest.fixture(scope="session")
def plate_still(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plate") / "plate_1001.jpg"
    cv2.imwrite(str(path), synthetic_frame(0)[:, :, ::-1])
    return path


@pytest.fixture(scope="session")
def licence() -> Licence:
    return Licence(licence_id=LICENCE_ID, actor="Ada Example", licensor="Ada Example",
                   licensee="Test Studio", shows=("DEMO",), uses=("render", "film"),
                   valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2027, 1, 1),
                   issuer_key_id="test-issuer")


@pytest.fixture(scope="session")
def report() -> dict:
    from vfx_double.provenance.watermark import describe, payload_for

    return {"show": "DEMO", "shot": "sh010", "version": "v003", "model_hash": "a" * 64,
            "config_hash": "b" * 64, "watermark": describe(payload_for(LICENCE_ID, VERSION))}


COMP_FRAMES = (1001, 1002, 1003)


def write_comp_frame(path: Path, frame: int, *, provenance: bool = True) -> Path:
    """A small comp EXR with the header provenance comp writes (plus modelHash), or none."""
    from vfx_double.face.element import PREFIX
    from vfx_double.io.exr import Attribute, ExrImage, write_exr

    pixels = np.full((16, 32, 3), 0.18 + frame % 10 / 100, np.float16)
    attributes = [Attribute(PREFIX + "licenceId", "string", LICENCE_ID),
                  Attribute(PREFIX + "configHash", "string", "b" * 64),
                  Attribute(PREFIX + "synthetic", "int", 1),
                  Attribute(PREFIX + "modelHash", "string", "a" * 64),
                  Attribute(PREFIX + "frame", "int", frame)] if provenance else []
    write_exr(path, ExrImage(pixels, ("R", "G", "B"), (0, 0, 32, 16), (0, 0, 32, 16),
                             attributes))
    return path


@pytest.fixture
def shot_dir(tmp_path: Path, studio_ca: Ca) -> Path:
    """A shot folder as review leaves it: comp/v001 frames and review/v001's signed
    sidecar listing them."""
    from vfx_double.provenance.sidecar import write_sidecar
    from vfx_double.provenance.signing import load_signing

    shot = tmp_path / "DEMO" / "sh010"
    comp = shot / "comp" / "v001"
    comp.mkdir(parents=True)
    frames = [write_comp_frame(comp / f"sh010_comp_v001.{f}.exr", f) for f in COMP_FRAMES]
    write_sidecar(shot / "review" / "v001" / "frames.manifest.json", frames,
                  credentials=load_signing(studio_ca.signing), licence_id=LICENCE_ID, base=shot)
    return shot
