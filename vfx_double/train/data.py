"""Faceset crops as training batches: balanced performer / actor, deterministic, resumable.

A batch is a pure function of ``(seed, step, rank)``: which crops it holds and every
augmentation random number are derived from those alone (``numpy.random.default_rng``
seeded with a key list), never from a global RNG or from what ran before. So a run
resumed at step ``k`` draws exactly the batches an uninterrupted run would, and
prefetching in worker threads cannot change a result.

Which crops: each side (performer, actor) is an endless stream of epochs, each epoch a
permutation of its crops seeded by ``(seed, side, epoch)``. Step ``k`` takes stream
positions ``k * G .. k * G + G - 1`` with ``G = world_size * batch_size``, and rank ``r``
takes its ``batch_size`` slice of them: ranks see different crops on the same step, and
over an epoch every crop is seen once.

Decoding: EXR decode dominates at small training resolutions, so a dataset whose crops
(resized, float32) fit under ``cache_mb`` keeps them in memory after the first read.
Cached and uncached reads give identical arrays.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import lru_cache
from typing import Any, Self

import numpy as np
import torch

from ..errors import ConfigError, MediaError
from ..face.crop import resize_crop, scale_landmarks
from ..face.faceset import CHANNELS, FacesetInfo
from ..io.exr import read_exr
from .augment import AugmentSpec
from .augment import augment as augment_sample

#: memory one dataset may use for decoded crops; over this it decodes on every read.
DEFAULT_CACHE_MB = 1024.0
PERFORMER, ACTOR = 0, 1


class FaceDataset(torch.utils.data.Dataset):
    """One faceset at the model resolution.

    ``sample(i, rng)`` is the real entry point (PairedBatches passes a per-step rng);
    ``dataset[i]`` uses an rng seeded by ``(seed, i)`` for use on its own. Both return
    ``rgb (3, R, R)`` and ``target_rgb (3, R, R)`` float32 ACEScct, ``mask (1, R, R)``
    and ``target_mask (1, R, R)`` float32 in [0, 1], ``landmarks (68, 2)`` float32 in
    R pixels (of the target) and ``index`` (int). Without augmentation the target is the
    input.
    """

    def __init__(self, info: FacesetInfo, resolution: int, augment: AugmentSpec | None,
                 seed: int, cache_mb: float = DEFAULT_CACHE_MB) -> None:
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
            raise ConfigError("FaceDataset resolution", "a whole number of pixels >= 8",
                              repr(resolution), "check the preset's model resolution")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError("FaceDataset seed", "a whole number >= 0", repr(seed))
        if augment is not None and augment.colour > 0 and info.colourspace != "ACEScct":
            raise ConfigError(f"{info.path} (colourspace)",
                              "ACEScct crops (colour jitter is defined on ACEScct codes)",
                              repr(info.colourspace),
                              "set colour.network to ACEScct and rerun track, or set the "
                              "augment colour amplitude to 0")
        self.info = info
        self.resolution = resolution
        self.augment = augment
        self.seed = seed
        item_mb = resolution * resolution * len(CHANNELS) * 4 / 2**20
        #: whether decoded crops are kept (the whole faceset fits under cache_mb).
        self.caching = info.count * item_mb <= cache_mb
        self._cache: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self._landmarks = scale_landmarks(info.landmarks, info.size, resolution)

    def __len__(self) -> int:
        return self.info.count

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader worker processes (spawn) pickle the dataset: a lock cannot travel, and
        # a process-local cache is rebuilt on that side.
        state = dict(self.__dict__)
        state["_lock"], state["_cache"] = None, {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def pixels(self, index: int) -> np.ndarray:
        """``(R, R, 4)`` float32 R, G, B, mask of crop ``index``, resized; read-only."""
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        path = self.info.path / self.info.files[index]
        image = read_exr(path, channels=CHANNELS, dtype="float32",
                         frame=self.info.frames[index])
        s = self.info.size
        if image.pixels.shape != (s, s, len(CHANNELS)):
            raise MediaError(str(path), f"a {s}x{s} crop (size in meta.json)",
                             f"{image.pixels.shape[1]}x{image.pixels.shape[0]}", "rerun `vfx-double track` for this shot")
        pixels = resize_crop(image.pixels, self.resolution)
        pixels[..., 3] = np.clip(pixels[..., 3], 0.0, 1.0)
        pixels.setflags(write=False)
        if self.caching:
            with self._lock:
                # Two threads may decode the same crop once each; both results are equal.
                pixels = self._cache.setdefault(index, pixels)
        return pixels

    def sample(self, index: int, rng: np.random.Generator, warp: bool = True
               ) -> dict[str, Any]:
        """One crop, augmented with ``rng`` when the dataset has an AugmentSpec; ``warp``
        False leaves the random warp out (the end of a run)."""
        if not 0 <= index < self.info.count:
            raise IndexError(f"crop {index} of a faceset of {self.info.count}")
        pixels = self.pixels(index)
        rgb, mask = pixels[..., :3], pixels[..., 3]
        points = self._landmarks[index]
        if self.augment is None:
            target_rgb, target_mask = rgb, mask
        else:
            spec = self.augment if warp else replace(self.augment, warp=0.0)
            rgb, mask, points, target_rgb, target_mask = augment_sample(
                rgb, mask, points, rng, spec)

        def chw(a: np.ndarray) -> torch.Tensor:
            a = a[..., None] if a.ndim == 2 else a
            return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1),
                                                         dtype=np.float32))

        return {"rgb": chw(rgb), "mask": chw(mask), "target_rgb": chw(target_rgb),
                "target_mask": chw(target_mask),
                "landmarks": torch.from_numpy(np.array(points, dtype=np.float32)),
                "index": index}

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.sample(index, np.random.default_rng([self.seed, index]))


@lru_cache(maxsize=16)
def _permutation(seed: int, side: int, epoch: int, count: int) -> np.ndarray:
    order = np.random.default_rng([seed, side, epoch]).permutation(count)
    order.setflags(write=False)
    return order


def collate(samples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Samples -> ``rgb (B, 3, R, R)``, ``mask (B, 1, R, R)``, ``landmarks (B, 68, 2)``,
    ``target_rgb``, ``target_mask`` and ``index (B,)`` int64."""
    out = {k: torch.stack([s[k] for s in samples]) for k in samples[0] if k != "index"}
    out["index"] = torch.tensor([s["index"] for s in samples], dtype=torch.int64)
    return out


class PairedBatches:
    """Balanced performer / actor batches; ``batch(step)`` depends only on the step.

    Args:
        rank, world_size: this process's place under DDP; ranks draw disjoint slots.
        workers: threads decoding and augmenting ahead (the next ``prefetch`` steps);
            0 works in the caller. Results are identical either way.
        warp_stop: steps from this one on are drawn without random warp (None: never).
    """

    def __init__(self, performer: FaceDataset, actor: FaceDataset, batch_size: int,
                 seed: int, rank: int = 0, world_size: int = 1, workers: int = 0,
                 prefetch: int = 2, warp_stop: int | None = None) -> None:
        checks = {"batch_size": (batch_size, 1), "seed": (seed, 0), "world_size": (world_size, 1),
                  "workers": (workers, 0), "prefetch": (prefetch, 0), "rank": (rank, 0)}
        for name, (value, low) in checks.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"PairedBatches {name}", f"a whole number >= {low}",
                                  repr(value))
        if rank >= world_size:
            raise ConfigError("PairedBatches rank", f"0 .. {world_size - 1} (world size "
                              f"{world_size})", repr(rank), "check the torchrun environment")
        self.datasets = (performer, actor)
        self.warp_stop = warp_stop
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.prefetch = prefetch if workers else 0
        self._pool = ThreadPoolExecutor(workers, "faceset") if workers else None
        self._pending: dict[int, list[Future]] = {}

    def indices(self, step: int, side: int) -> np.ndarray:
        """``(batch_size,)`` crop indices of ``side`` (PERFORMER or ACTOR) for this rank."""
        count = len(self.datasets[side])
        positions = self._slots(step) + step * self.batch_size * self.world_size
        out = np.empty(len(positions), np.int64)
        for n, pos in enumerate(positions):
            epoch, within = divmod(int(pos), count)
            out[n] = _permutation(self.seed, side, epoch, count)[within]
        return out

    def _slots(self, step: int) -> np.ndarray:
        """This rank's global sample slots within a step."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ConfigError("PairedBatches step", "a whole number >= 0", repr(step))
        return self.rank * self.batch_size + np.arange(self.batch_size)

    def _jobs(self, step: int) -> list[tuple[FaceDataset, int, list[int], bool]]:
        jobs = []
        warp = self.warp_stop is None or step < self.warp_stop
        for side, dataset in enumerate(self.datasets):
            for slot, index in zip(self._slots(step), self.indices(step, side)):
                # Keyed by the global slot, not the rank, so a crop's augmentation does not
                # depend on how many processes share the step.
                jobs.append((dataset, int(index), [self.seed, int(step), side, int(slot)],
                             warp))
        return jobs

    @staticmethod
    def _run(dataset: FaceDataset, index: int, key: list[int], warp: bool) -> dict[str, Any]:
        return dataset.sample(index, np.random.default_rng(key), warp)

    def _submit(self, step: int) -> list[Future]:
        assert self._pool is not None
        return [self._pool.submit(self._run, *job) for job in self._jobs(step)]

    def batch(self, step: int) -> dict[str, dict[str, torch.Tensor]]:
        """``{"performer": {...}, "actor": {...}}``, each as :func:`collate` makes it with
        ``batch_size`` samples; the same step always gives the same batch."""
        if self._pool is None:
            samples = [self._run(*job) for job in self._jobs(step)]
        else:
            futures = self._pending.pop(step, None) or self._submit(step)
            for old in [s for s in self._pending if not step < s <= step + self.prefetch]:
                for f in self._pending.pop(old):
                    f.cancel()
            for ahead in range(step + 1, step + 1 + self.prefetch):
                if ahead not in self._pending:
                    self._pending[ahead] = self._submit(ahead)
            samples = [f.result() for f in futures]
        b = self.batch_size
        return {"performer": collate(samples[:b]), "actor": collate(samples[b:])}

    def close(self) -> None:
        """Stop the worker threads (pending prefetches are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._pending.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
