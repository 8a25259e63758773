"""The dailies app as served: page load and first frame in a browser, and concurrent note
posts over HTTP, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/bench_dailies.py [--loads 8] [--notes 50] [--rounds 3]
                                                 [--db sqlite,postgresql] [--work DIR]

The parts are the tests' (``tests/dailies``): review folders with real H.264 movies
(``reviews.py``, 48 frames + slate, 640x360, 24 fps, C2PA-signed), the app served by
waitress through ``vfx-double dailies serve`` (``live.py``), PostgreSQL 15 in a temp
folder (``postgres.py``), Debian's chromium driven by Playwright (public tools only: the
browser's Navigation Timing and media events, ``requests`` and threads).

- Page load: a new browser context each time (empty cache, its own sign-in, not timed),
  then the player page: ``responseStart`` (server time to first byte), DOMContentLoaded
  and ``load`` from Navigation Timing; first frame: the video's ``loadeddata`` and its
  first ``requestVideoFrameCallback`` (a frame handed to the compositor), as ms since the
  navigation started, registered by an init script before the page's own.
- Notes: ``--notes`` threads released together by a barrier, each posting one note with
  an API token (a keep-alive session per thread); per-request latency p50/p95/max and the
  round's wall time; afterwards the notes are counted through the API: none may be lost.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from _machine import machine_line  # noqa: E402

from tests.dailies.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.dailies.live import LiveServer  # noqa: E402
from tests.dailies.postgres import PostgresServer  # noqa: E402
from tests.dailies.reviews import FIRST, ReviewTree, build_reviews  # noqa: E402

#: runs before the page's scripts: stamps the player video's first events
FIRST_FRAME_JS = """
window.__bench = {};
document.addEventListener('DOMContentLoaded', () => {
    const v = document.querySelector('video#player');
    if (!v) return;
    const stamp = k => { if (!(k in window.__bench)) window.__bench[k] = performance.now(); };
    v.addEventListener('loadeddata', () => stamp('loadeddata'));
    if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(() => stamp('frame'));
    if (v.readyState >= 2) stamp('loadeddata');
});
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def page_loads(server: LiveServer, version_id: int, loads: int) -> list[dict[str, float]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(f"{server.url}/login")
            page.fill("#username", server.user)
            page.fill("#password", server.password)
            page.click("#sign-in")
            page.wait_for_load_state()
            page.add_init_script(FIRST_FRAME_JS)
            page.goto(f"{server.url}/versions/{version_id}", wait_until="load")
            page.wait_for_function("window.__bench && 'loadeddata' in window.__bench",
                                   timeout=20_000)
            try:
                page.wait_for_function("'frame' in window.__bench", timeout=3_000)
            except Exception:   # a paused video may present no frame: reported as absent
                pass
            nav = page.evaluate("""() => {
                const n = performance.getEntriesByType('navigation')[0];
                return {ttfb: n.responseStart, dom: n.domContentLoadedEventEnd,
                        load: n.loadEventEnd, ...window.__bench};
            }""")
            rows.append(nav)
            context.close()
        browser.close()
    return rows


def note_round(server: LiveServer, version_id: int, token: str, count: int) -> dict[str, float]:
    url = f"{server.url}/api/versions/{version_id}/notes"
    tag = uuid.uuid4().hex[:10]
    barrier = threading.Barrier(count)
    local = threading.local()

    def post(i: int) -> tuple[int, float]:
        if not hasattr(local, "s"):
            local.s = requests.Session()
            local.s.headers["Authorization"] = f"Bearer {token}"
        barrier.wait()
        t0 = time.perf_counter()
        r = local.s.post(url, json={"frame": FIRST + i % 48, "text": f"bench {tag} {i}"},
                         timeout=60)
        return r.status_code, time.perf_counter() - t0

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        results = list(pool.map(post, range(count)))
    wall = time.perf_counter() - started
    codes = [c for c, _ in results]
    latencies = [t * 1000 for _, t in results]
    notes = requests.get(url, headers={"Authorization": f"Bearer {token}"},
                         timeout=30).json()["notes"]
    kept = {n["text"] for n in notes if tag in n["text"]}
    return {"ok": sum(c == 201 for c in codes), "kept": len(kept), "wall": wall * 1000,
            "p50": statistics.median(latencies), "p95": pct(latencies, 95),
            "max": max(latencies), "codes": sorted(set(codes))}


def run_db(name: str, url: str, tree: ReviewTree, work: Path,
           args: argparse.Namespace) -> None:
    server = LiveServer(tree.work_root, url, keyring=tree.keyring, folder=work / f"server_{name}")
    server.start()
    try:
        with server.session() as s:
            versions = s.get(f"{server.url}/api/versions", timeout=10).json()["versions"]
        ids = {(v["shot"], v["version"]): v["id"] for v in versions}
        rows = page_loads(server, ids[("sh010", "v002")], args.loads)
        # the server's first view of a version checks its provenance (C2PA and the
        # watermark read from the pictures), cached per file after: shown apart
        print(f"\n{name}: player page, new browser context each load (empty cache), ms since "
              f"navigation start: the first load | the next {len(rows) - 1}: median [min-max]")
        for key, label in [("ttfb", "first byte"), ("dom", "DOMContentLoaded"),
                           ("load", "load event"), ("loadeddata", "video loadeddata"),
                           ("frame", "first video frame (rVFC)")]:
            first = f"{rows[0][key]:7.1f}" if key in rows[0] else "  never"
            values = [r[key] for r in rows[1:] if key in r]
            rest = (f"{statistics.median(values):7.1f} [{min(values):.1f}-{max(values):.1f}]"
                    if values else "never")
            if values and len(values) < len(rows) - 1:
                rest += f" ({len(values)}/{len(rows) - 1} loads)"
            print(f"  {label:26s} {first} | {rest}")
        token = server.token()
        print(f"{name}: {args.notes} note posts at once (threads, API token), per round")
        for r in range(args.rounds):
            res = note_round(server, ids[("sh010", "v001")], token, args.notes)
            lost = args.notes - res["kept"]
            print(f"  round {r + 1}: {res['ok']}/{args.notes} answered 201 "
                  f"(codes {res['codes']}), {res['kept']} kept, {lost} lost; "
                  f"p50 {res['p50']:.0f} ms, p95 {res['p95']:.0f} ms, max {res['max']:.0f} ms, "
                  f"wall {res['wall']:.0f} ms")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=8)
    parser.add_argument("--notes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--work", type=Path, help="keep everything here (default: a temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_dailies_"))
    work.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    print(f"date {dt.date.today()}; chromium {CHROMIUM}")
    tree = build_reviews(work / "reviews")
    from vfx_double.provenance.verify import verify_file

    movie = tree.version("sh010", "v002").movie
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        verdict = verify_file(movie, keyring=tree.keyring)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"provenance check of one review movie (verify_file, {movie.stat().st_size // 1024} "
          f"KiB, {verdict.state}): {statistics.median(times):.0f} ms median of 3")
    for name in args.db.split(","):
        if name == "sqlite":
            run_db(name, f"sqlite:///{work / 'dailies.sqlite'}", tree, work, args)
        elif name == "postgresql":
            with PostgresServer() as pg:
                run_db(name, pg.url, tree, work, args)
        else:
            raise SystemExit(f"--db: expected sqlite and/or postgresql, found {name!r}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
