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

SIZE = (160, 96)
FRAMES = 12


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


@pytest.fixture(scope="session")
def unsigned_movies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"h264": .mp4, "prores": .mov}``, unsigned; copy before changing them."""
    folder = tmp_path_factory.mktemp("movies")
    movies = {}
    for codec, name, dtype in (("h264", "review.mp4", np.uint8),
                               ("prores", "review.mov", np.uint16)):
        with MovieWriter(folder / name, 24.0, SIZE, codec=codec) as writer:
            for i in range(FRAMES):
                writer.add(synthetic_frame(i, dtype))
        movies[codec] = folder / name
    return movies


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
    return Licence(licence_id="LIC-0001", actor="Ada Example", licensor="Ada Example",
                   licensee="Test Studio", shows=("DEMO",), uses=("render", "film"),
                   valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2027, 1, 1),
                   issuer_key_id="test-issuer")


@pytest.fixture(scope="session")
def report() -> dict:
    from vfx_double.provenance.watermark import describe, payload_for

    return {"show": "DEMO", "shot": "sh010", "version": "v003", "model_hash": "a" * 64,
            "config_hash": "b" * 64, "watermark": describe(payload_for("LIC-0001", 3))}
