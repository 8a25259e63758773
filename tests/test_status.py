"""`vfx-double status`: a shot's stages read from its work area, nothing written (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.shots import make_shot
from vfx_double.cli import main
from vfx_double.config import load
from vfx_double.workarea import WorkArea


def test_status_reports_versions_done_and_missing(tmp_path: Path, capsys) -> None:
    shot = make_shot(tmp_path)
    area = WorkArea(load(shot.config).shot_dir)
    render = area.new_version("render")
    for frame in (1001, 1002, 1004):
        (render / f"face.{frame:04d}.exr").write_bytes(b"x")
    run = area.new_version("train")
    (run / "options.json").write_text(json.dumps({"steps": 3000}))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 100, "total": 0.5, "time": 7200.0})
                                       + "\n")
    before = sorted(p for p in tmp_path.rglob("*"))
    assert main(["status", str(shot.config)]) == 0
    out = capsys.readouterr().out
    assert "plate 1001-1005" in out
    assert "render   1 version(s), latest v001: 3/5 frames; missing 1003, 1005" in out
    assert "train    1 version(s), latest run-001: step 0 of 3000, loss 0.5000, 2.00 h" in out
    assert "comp     0 version(s)" in out
    assert "audit    not verified" in out and "no such file" in out
    assert sorted(p for p in tmp_path.rglob("*")) == before  # reads only
    assert main(["status", str(shot.config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    train = next(s for s in data["stages"] if s["stage"] == "train")
    assert train["detail"]["target"] == 3000 and train["detail"]["last"]["step"] == 100
