"""NME-68 and speed of a landmark backend on the annotated photos, against raw FaceMesh.

    .venv/bin/python benchmarks/bench_landmarks.py --data ../shared/data/landmarks

Per image (breakingbad 1920x1080, einstein 817x1024 with a small face, takeo 150x225):

- ours: ``backend.detect`` on the whole frame, then ``backend.landmarks`` on the box that
  overlaps the annotated face most (the usual protocol when a photo holds several faces);
  "found" means a box overlaps it (IoU > 0.3). Time: detect + landmarks.
- ours, table only (mediapipe): the same meshes mapped without the jaw's outline step,
  to show what that step buys.
- anchor: mediapipe FaceMesh (static, refine_landmarks, up to 5 faces) on the whole
  frame, as the solution is usually called, the face nearest the annotation, mapped
  through the same ``ibug68.to_ibug68``.

NME-68 = mean point distance / distance between the annotated outer eye corners (36, 45).
Prints a markdown block for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from _machine import cpu_model

from vfx_double.face import ibug68
from vfx_double.track.backends import FaceBox, get_backend
from vfx_double.track.backends.mediapipe import quiet_native_logs


@dataclass
class Row:
    name: str
    size: str
    found: bool = False
    nme: float | None = None
    nme_table: float | None = None
    ms: list[float] = field(default_factory=list)
    landmarks_ms: list[float] = field(default_factory=list)
    anchor_nme: float | None = None
    anchor_ms: list[float] = field(default_factory=list)


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grey files come back as 3 channels
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def timed(step: Callable[[], object], repeats: int) -> tuple[object, list[float]]:
    result, times = None, []
    for _ in range(repeats):
        start = time.perf_counter()
        result = step()
        times.append((time.perf_counter() - start) * 1e3)
    return result, times


def ours(backend, image: np.ndarray, target: FaceBox) -> FaceBox | None:
    """The detected box of the annotated face, or None when it was not found."""
    boxes = backend.detect(image)
    if not boxes or max(b.iou(target) for b in boxes) <= 0.3:
        return None
    return max(boxes, key=target.iou)


def anchor_mesh():
    with quiet_native_logs():
        from mediapipe.python.solutions import face_mesh

        mesh = face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                  max_num_faces=5)
        mesh.process(np.zeros((64, 64, 3), np.uint8))
    return mesh


def anchor(mesh, image: np.ndarray, target: FaceBox) -> np.ndarray | None:
    h, w = image.shape[:2]
    faces = mesh.process(image).multi_face_landmarks or []
    meshes = [np.array([(p.x * w - 0.5, p.y * h - 0.5) for p in f.landmark]) for f in faces]
    meshes = [m for m in meshes if FaceBox.around(m, 1.0).iou(target) > 0.3]
    if not meshes:
        return None
    return max(meshes, key=lambda m: FaceBox.around(m, 1.0).iou(target))


def fmt(value: float | None) -> str:
    return "missed" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/landmarks"),
                        help="folder with ground_truth_68_xy0.json and the photos")
    parser.add_argument("--backend", default="mediapipe")
    parser.add_argument("--weights", type=Path, default=None, help="track.weights (fan)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per image")
    args = parser.parse_args()

    truth_file = args.data / "ground_truth_68_xy0.json"
    if not truth_file.is_file():
        raise SystemExit(f"{truth_file} not found (see ../shared/data/MANIFEST.md)")
    truths = json.loads(truth_file.read_text())
    backend = get_backend(args.backend, weights=args.weights, where="--backend")
    mesh = anchor_mesh()
    rows = []
    for name in sorted(truths):
        entry = truths[name]
        image = load_rgb(args.data / entry["file"])
        truth = np.asarray(entry["landmarks_xy_0based"], dtype=np.float64)
        target = FaceBox.around(truth, 1.0)
        row = Row(name, f"{image.shape[1]}x{image.shape[0]}")
        box, detect_ms = timed(lambda: ours(backend, image, target), args.repeats)
        row.found, marks = box is not None, None
        if box is not None:
            marks, row.landmarks_ms = timed(lambda: backend.landmarks(image, box), args.repeats)
        row.ms = [a + b for a, b in zip(detect_ms, row.landmarks_ms or [0.0] * len(detect_ms))]
        if marks is not None:
            row.nme = ibug68.nme(marks.points, truth)
            if marks.dense is not None:
                row.nme_table = ibug68.nme(ibug68.table_points(marks.dense), truth)
        dense, row.anchor_ms = timed(lambda: anchor(mesh, image, target), args.repeats)
        if dense is not None:
            row.anchor_nme = ibug68.nme(ibug68.to_ibug68(dense), truth)
        rows.append(row)
    version = backend.version()
    backend.close()
    mesh.close()

    import mediapipe

    print(f"### Landmarks: NME-68 and speed, backend `{args.backend}` ({version})")
    print()
    print(f"- Command: `.venv/bin/python benchmarks/bench_landmarks.py --data {args.data}"
          + (f" --backend {args.backend}" if args.backend != "mediapipe" else "") + "`")
    print(f"- Machine: {cpu_model()}, {os.cpu_count()} cores; Python "
          f"{platform.python_version()}, mediapipe {mediapipe.__version__}, OpenCV "
          f"{cv2.__version__}, NumPy {np.__version__}")
    print(f"- Date: {dt.date.today().isoformat()}; times are medians of {args.repeats} runs "
          "(first run included: no warm-up beyond the backend's own)")
    print()
    print("| image | size | found | NME-68 ours | ours, table only | NME-68 raw FaceMesh "
          "| ms ours: detect + landmarks | of which landmarks | ms raw FaceMesh |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.name} | {r.size} | {'yes' if r.found else 'NO'} | {fmt(r.nme)} | "
              f"{fmt(r.nme_table)} | {fmt(r.anchor_nme)} | {statistics.median(r.ms):.1f} | "
              f"{statistics.median(r.landmarks_ms or [0.0]):.1f} | "
              f"{statistics.median(r.anchor_ms):.1f} |")

    def mean(values: list[float | None]) -> str:
        present = [v for v in values if v is not None]
        note = "" if len(present) == len(values) else f" ({len(present)}/{len(values)} found)"
        return (f"{statistics.fmean(present):.4f}" if present else "-") + note

    print(f"| **mean** | | {sum(r.found for r in rows)}/{len(rows)} | "
          f"**{mean([r.nme for r in rows])}** | {mean([r.nme_table for r in rows])} | "
          f"{mean([r.anchor_nme for r in rows])} | "
          f"{statistics.fmean(statistics.median(r.ms) for r in rows):.1f} | "
          f"{statistics.fmean(statistics.median(r.landmarks_ms or [0.0]) for r in rows):.1f} | "
          f"{statistics.fmean(statistics.median(r.anchor_ms) for r in rows):.1f} |")


if __name__ == "__main__":
    main()
