"""Does a change keep the demo's outputs bit-identical? The demo shot run end to end from an
earlier commit and from the working tree, and the pixels of every output compared.

    .venv/bin/python benchmarks/bench_demo_identity.py --base 530befd --work /tmp/identity

The earlier commit is checked out with ``git worktree`` (read-only use) and both runs use
this checkout's ``.venv`` with ``PYTHONPATH`` pointing at their own ``vfx_double``. For
every render element, comp frame and faceset crop: sha256 of the pixels (float32) and the
data and display windows; for the track arrays and checkpoint weights: sha256 of the file.
Headers are not compared (they carry paths and config hashes that name the run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import OpenImageIO as oiio
from _machine import machine_line

REPO = Path(__file__).resolve().parent.parent
PATTERNS = ("render/v*/face.*.exr", "comp/v*/*.exr", "faceset/v*/*/crop.*.exr")
FILES = ("track/v*/*.npz", "train/run-*/checkpoints/*/weights.safetensors")


def run_demo(source: Path, out: Path) -> float:
    """Run ``vfx-double demo`` from the package under ``source``; seconds taken."""
    env = {**os.environ, "PYTHONPATH": str(source), "OMP_NUM_THREADS": "2"}
    code = ("import sys, vfx_double; assert vfx_double.__file__.startswith(sys.argv[1]), "
            "vfx_double.__file__; from vfx_double.cli import run; "
            "sys.argv = ['vfx-double', 'demo', '--out', sys.argv[2]]; run()")
    start = time.perf_counter()
    # run from the scratch folder: ``python -c`` puts the working folder first on sys.path
    subprocess.run([sys.executable, "-c", code, str(source), str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL, cwd=out.parent)
    return time.perf_counter() - start


def fingerprints(out: Path) -> dict[str, str]:
    root = out / "work" / "DEMO" / "sh010"
    found: dict[str, str] = {}
    for pattern in PATTERNS:
        for path in sorted(root.glob(pattern)):
            buf = oiio.ImageBuf(str(path))
            spec = buf.spec()
            windows = (spec.x, spec.y, spec.width, spec.height, spec.full_x, spec.full_y,
                       spec.full_width, spec.full_height)
            digest = hashlib.sha256(buf.get_pixels(oiio.FLOAT).tobytes() + repr(windows).encode())
            found[str(path.relative_to(root))] = digest.hexdigest()
    for pattern in FILES:
        for path in sorted(root.glob(pattern)):
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier commit")
    parser.add_argument("--work", type=Path, required=True, help="an empty scratch folder")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=False)
    tree = args.work / "base-tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.base],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        base_s = run_demo(tree, args.work / "base")
        head_s = run_demo(REPO, args.work / "head")
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                       check=False)
    base, head = fingerprints(args.work / "base"), fingerprints(args.work / "head")
    (args.work / "fingerprints.json").write_text(json.dumps({"base": base, "head": head}))
    differ = sorted(k for k in base.keys() | head.keys() if base.get(k) != head.get(k))
    kinds = {p.split("/")[0]: sum(k.startswith(p.split("/")[0]) for k in base) for p in
             PATTERNS + FILES}
    print(f"machine: {machine_line()}")
    print(f"base {args.base} vs working tree: {len(base)} outputs "
          + ", ".join(f"{n} {k}" for k, n in kinds.items()))
    print(f"identical: {len(base) - len(differ)}/{len(base)}; differ: {differ[:10] or 'none'}")
    print(f"demo wall time: base {base_s:.0f} s, working tree {head_s:.0f} s "
          f"(ratio {head_s / base_s:.2f}; one run each, not a speed benchmark)")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
