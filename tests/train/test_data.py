"""Faceset loading, datasets and the deterministic, sharded, balanced batches."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vfx_double.errors import ConfigError, MediaError
from vfx_double.face.align import template_in_crop
from vfx_double.face.crop import scale_landmarks
from vfx_double.face.faceset import FacesetInfo, open_faceset
from vfx_double.face.matte import hull_mask
from vfx_double.io.exr import ExrImage, write_exr
from vfx_double.train.augment import AugmentSpec
from vfx_double.train.data import ACTOR, PERFORMER, FaceDataset, PairedBatches

SIZE = 32


def make_faceset(folder: Path, count: int, size: int = SIZE, first: int = 1001,
                 sequence: str = "plate", dot: bool = False) -> Path:
    """A faceset of ``count`` synthetic crops: a per-crop colour ramp and a hull mask."""
    folder.mkdir(parents=True)
    landmarks = template_in_crop(size, 0.6)
    mask = hull_mask(landmarks, size)
    ys, xs = np.mgrid[0:size, 0:size] / size
    crops = []
    for n in range(count):
        frame = first + n
        rgb = np.stack([0.2 + 0.3 * xs + 0.02 * n, 0.3 + 0.2 * ys, 0.4 + 0.01 * n + 0 * xs], -1)
        if dot:
            x, y = landmarks[30]
            rgb = np.zeros_like(rgb)
            rgb[..., 1] = np.exp(-((xs * size - x) ** 2 + (ys * size - y) ** 2) / 8.0)
        pixels = np.concatenate([rgb, mask[..., None]], -1).astype(np.float16)
        name = f"crop.{frame}.exr"
        write_exr(folder / name, ExrImage(pixels, ("R", "G", "B", "mask"), (0, 0, size, size),
                                          (0, 0, size, size), [], "zip"))
        crops.append({"frame": frame, "file": name, "matrix": [[1, 0, 0], [0, 1, 0]],
                      "landmarks": landmarks.round(3).tolist(), "sharpness": 0.01,
                      "confidence": 0.93, "yaw": 0.0, "pitch": 0.0, "roll": 0.0})
    meta = {"schema": "FacesetMeta.1", "sequence": sequence, "colourspace": "ACEScct",
            "size": size, "coverage": 0.6, "crops": crops,
            "skipped": {"no_face": 0, "low_confidence": 0, "blurred": 0, "interpolated": 0},
            "median_sharpness": 0.01, "track": "track/v001"}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture
def facesets(tmp_path: Path) -> tuple[FacesetInfo, FacesetInfo]:
    plate = make_faceset(tmp_path / "faceset" / "v001" / "plate", 6)
    actor = make_faceset(tmp_path / "faceset" / "v001" / "actor", 4, first=1, sequence="actor")
    return open_faceset(plate), open_faceset(actor)


def paired(facesets: tuple[FacesetInfo, FacesetInfo], **kwargs) -> PairedBatches:
    spec = AugmentSpec(warp=0.5, flip=True)
    performer = FaceDataset(facesets[0], 16, spec, seed=3)
    actor = FaceDataset(facesets[1], 16, spec, seed=3)
    kwargs.setdefault("batch_size", 2)
    kwargs.setdefault("seed", 11)
    return PairedBatches(performer, actor, **kwargs)


def assert_batches_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for side, tensors in a.items():
        assert tensors.keys() == b[side].keys()
        for key, value in tensors.items():
            assert torch.equal(value, b[side][key]), (side, key)


def test_open_faceset_reads_meta(facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    plate, actor = facesets
    assert (plate.sequence, plate.size, plate.count) == ("plate", SIZE, 6)
    assert plate.frames == list(range(1001, 1007))
    assert plate.files[0] == "crop.1001.exr"
    assert plate.landmarks.shape == (6, 68, 2) and plate.landmarks.dtype == np.float32
    assert actor.sequence == "actor" and actor.count == 4


def one_line_error(folder: Path, match: str) -> str:
    with pytest.raises(MediaError) as info:
        open_faceset(folder, "performer faceset")
    text = str(info.value)
    assert "\n" not in text
    assert str(folder) in text
    assert match in text
    return text


def test_missing_folder_is_one_line_with_path(tmp_path: Path) -> None:
    one_line_error(tmp_path / "faceset" / "v009" / "plate", "no such folder")


def test_missing_meta(tmp_path: Path) -> None:
    (tmp_path / "plate").mkdir()
    one_line_error(tmp_path / "plate", "meta.json")


@pytest.mark.parametrize("schema, match", [("FacesetMeta.2", "newer"),
                                           ("TrackResult.1", "FacesetMeta.1"),
                                           (None, "no schema")])
def test_bad_schema(tmp_path: Path, schema: str | None, match: str) -> None:
    folder = make_faceset(tmp_path / "plate", 1)
    meta = json.loads((folder / "meta.json").read_text())
    meta["schema"] = schema
    (folder / "meta.json").write_text(json.dumps(meta))
    one_line_error(folder, match)


def test_invalid_json(tmp_path: Path) -> None:
    folder = make_faceset(tmp_path / "plate", 1)
    (folder / "meta.json").write_text("{\"schema\": ")
    one_line_error(folder, "valid JSON")


def test_zero_crops(tmp_path: Path) -> None:
    folder = make_faceset(tmp_path / "plate", 1)
    meta = json.loads((folder / "meta.json").read_text())
    meta["crops"] = []
    meta["skipped"]["no_face"] = 12
    (folder / "meta.json").write_text(json.dumps(meta))
    text = one_line_error(folder, "the faceset has no crops")
    assert "rerun" in text and "no_face 12" in text


def test_missing_crop_files(tmp_path: Path) -> None:
    folder = make_faceset(tmp_path / "plate", 3)
    (folder / "crop.1002.exr").unlink()
    one_line_error(folder, "1 missing: crop.1002.exr")


def test_bad_landmarks(tmp_path: Path) -> None:
    folder = make_faceset(tmp_path / "plate", 2)
    meta = json.loads((folder / "meta.json").read_text())
    meta["crops"][1]["landmarks"] = [[0, 0]] * 5
    (folder / "meta.json").write_text(json.dumps(meta))
    one_line_error(folder, "crops[1]")


def test_dataset_shapes_and_dtypes(facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    for spec in (None, AugmentSpec()):
        item = FaceDataset(facesets[0], 16, spec, seed=0)[2]
        assert item["rgb"].shape == (3, 16, 16) and item["rgb"].dtype == torch.float32
        assert item["target_rgb"].shape == (3, 16, 16)
        assert item["mask"].shape == (1, 16, 16) and item["mask"].dtype == torch.float32
        assert item["target_mask"].shape == (1, 16, 16)
        assert item["landmarks"].shape == (68, 2) and item["landmarks"].dtype == torch.float32
        assert item["index"] == 2
        assert 0.0 <= item["mask"].min() and item["mask"].max() <= 1.0


def test_landmarks_scale_with_the_pixels(tmp_path: Path) -> None:
    """A dot drawn at landmark 30 in a 32 px crop sits at the scaled landmark at 16 and 64."""
    info = open_faceset(make_faceset(tmp_path / "plate", 1, dot=True))
    for resolution in (16, 64):
        item = FaceDataset(info, resolution, None, seed=0)[0]
        green = item["rgb"][1].numpy().astype(np.float64)
        ys, xs = np.mgrid[0:resolution, 0:resolution]
        centroid = np.array([(green * xs).sum(), (green * ys).sum()]) / green.sum()
        assert np.abs(centroid - item["landmarks"][30].numpy()).max() < 0.25
    expected = (info.landmarks[0] + 0.5) * 0.5 - 0.5
    np.testing.assert_allclose(scale_landmarks(info.landmarks[0], 32, 16), expected, atol=1e-5)


def test_cached_and_uncached_reads_are_identical(
        facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    cached = FaceDataset(facesets[0], 16, AugmentSpec(), seed=1)
    uncached = FaceDataset(facesets[0], 16, AugmentSpec(), seed=1, cache_mb=0)
    assert cached.caching and not uncached.caching
    for i in range(len(cached)):
        for _ in range(2):
            a, b = cached[i], uncached[i]
            assert all(torch.equal(a[k], b[k]) for k in ("rgb", "mask", "target_rgb"))
    assert len(cached._cache) == len(cached) and not uncached._cache


def test_dataset_pickles_for_worker_processes(
        facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    dataset = FaceDataset(facesets[0], 16, AugmentSpec(), seed=1)
    first = dataset[3]
    copy = pickle.loads(pickle.dumps(dataset))
    assert not copy._cache
    assert torch.equal(copy[3]["rgb"], first["rgb"])


def test_batches_are_balanced(facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    batch = paired(facesets, batch_size=3).batch(0)
    assert set(batch) == {"performer", "actor"}
    for side in batch.values():
        assert side["rgb"].shape == (3, 3, 16, 16)
        assert side["mask"].shape == (3, 1, 16, 16)
        assert side["landmarks"].shape == (3, 68, 2)
        assert side["index"].shape == (3,) and side["index"].dtype == torch.int64
    assert batch["actor"]["index"].max() < 4


def test_batch_depends_only_on_the_step(facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    batches = paired(facesets)
    first = batches.batch(57)
    for step in range(5):
        batches.batch(step)
    assert_batches_equal(first, batches.batch(57))
    assert_batches_equal(first, paired(facesets).batch(57))
    other = batches.batch(58)
    assert not torch.equal(first["performer"]["rgb"], other["performer"]["rgb"])
    reseeded = paired(facesets, seed=12).batch(57)
    assert not torch.equal(first["actor"]["rgb"], reseeded["actor"]["rgb"])


def test_augmentation_differs_between_steps(tmp_path: Path) -> None:
    """One crop per side: every step picks it, so only the step-keyed rng can differ."""
    info = open_faceset(make_faceset(tmp_path / "plate", 1))
    spec = AugmentSpec(warp=1.0)
    batches = PairedBatches(FaceDataset(info, 16, spec, 0), FaceDataset(info, 16, spec, 0),
                            batch_size=2, seed=5)
    a, b = batches.batch(0)["performer"], batches.batch(1)["performer"]
    assert torch.equal(a["index"], b["index"])
    assert not torch.equal(a["rgb"], b["rgb"])
    assert not torch.equal(a["rgb"][0], a["rgb"][1])  # slots differ within a step too


def test_every_crop_once_per_epoch(facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    batches = paired(facesets, batch_size=2)
    seen = np.concatenate([batches.indices(s, PERFORMER) for s in range(3)])
    assert sorted(seen.tolist()) == list(range(6))
    assert sorted(np.concatenate([batches.indices(s, ACTOR) for s in (2, 3)]).tolist()) \
        == list(range(4))


def test_workers_match_single_threaded(facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    plain = paired(facesets)
    with paired(facesets, workers=3) as threaded:
        for step in [0, 1, 2, 3, 9, 4, 4, 20]:
            assert_batches_equal(plain.batch(step), threaded.batch(step))
            assert set(threaded._pending) == {step + 1, step + 2}  # the next two prefetched


def test_ranks_draw_disjoint_slots_that_cover_the_data(
        facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    r0 = paired(facesets, rank=0, world_size=2)
    r1 = paired(facesets, rank=1, world_size=2)
    for step in range(4):
        a, b = r0.indices(step, ACTOR), r1.indices(step, ACTOR)
        # 4 actor crops, global batch 4: each step is one epoch, split between ranks.
        assert not set(a.tolist()) & set(b.tolist())
        assert sorted(a.tolist() + b.tolist()) == [0, 1, 2, 3]
        assert torch.equal(torch.from_numpy(a), r0.batch(step)["actor"]["index"])
    perf = [np.concatenate([r.indices(s, PERFORMER) for s in range(3)]) for r in (r0, r1)]
    assert sorted(np.concatenate(perf).tolist()) == sorted(list(range(6)) * 2)
    assert not torch.equal(r0.batch(0)["performer"]["rgb"], r1.batch(0)["performer"]["rgb"])


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"rank": 2, "world_size": 2},
                                    {"workers": -1}, {"seed": -1}])
def test_bad_settings_are_refused(facesets: tuple[FacesetInfo, FacesetInfo],
                                  kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        paired(facesets, **kwargs)


def test_bad_step_is_refused(facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    with pytest.raises(ConfigError):
        paired(facesets).batch(-1)


def test_colour_jitter_needs_acescct(facesets: tuple[FacesetInfo, FacesetInfo]) -> None:
    info = facesets[0]
    other = FacesetInfo(info.path, info.sequence, info.size, info.frames, info.count,
                        info.files, info.landmarks, colourspace="ACEScg")
    with pytest.raises(ConfigError, match="ACEScct"):
        FaceDataset(other, 16, AugmentSpec(colour=0.05), seed=0)
    FaceDataset(other, 16, AugmentSpec(colour=0.0), seed=0)


def test_warp_stops_at_warp_stop(tmp_path: Path) -> None:
    """From ``warp_stop`` on, the input is the target (no random warp); before, it differs."""
    info = open_faceset(make_faceset(tmp_path / "plate", 1))
    spec = AugmentSpec(warp=1.0, colour=0.0)
    batches = PairedBatches(FaceDataset(info, 16, spec, 0), FaceDataset(info, 16, spec, 0),
                            batch_size=2, seed=5, warp_stop=3)
    for step, warped in ((2, True), (3, False), (9, False)):
        side = batches.batch(step)["performer"]
        assert (not torch.equal(side["rgb"], side["target_rgb"])) is warped, step
