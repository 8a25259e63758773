"""The ``opencue`` backend (issue 12, part 7): the job as an OpenCue job spec written with
pyoutline, read back; launched only on a configured Cuebot (none here: a stand-in pycue
call is used for the configured case)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from pipeline.backends import RunOptions
from pipeline.submit import Job, prepare
from tests.shots import MiniShot, make_shot
from vfx_double import config
from vfx_double.cli import main
from vfx_double.errors import ConfigError

pytest.importorskip("outline", reason="opencue-pyoutline is an optional extra (dev.sh installs it)")
from pipeline import opencue  # noqa: E402


@pytest.fixture
def shot(tmp_path: Path) -> MiniShot:
    s = make_shot(tmp_path)
    s.config.write_text(s.config.read_text() + "farm:\n  chunk_size: 2\n")
    return s


@pytest.fixture(autouse=True)
def no_cuebot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Cuebot anywhere pycue would look (and a HOME pyoutline must not write to)."""
    for var in ("CUEBOT_HOSTS", "OPENCUE_CONFIG_FILE", "OPENCUE_CONF"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


def written(shot: MiniShot, **options) -> tuple[Job, Path, list[str]]:
    job = prepare(shot.config)
    said: list[str] = []
    assert opencue.run(job, RunOptions(**options), said.append) == 0
    return job, job.folder / "opencue" / "job.xml", said


def test_five_layers_chunks_and_dependencies(shot: MiniShot, tmp_path: Path) -> None:
    job, path, said = written(shot)
    spec = opencue.read(path.read_text())
    layers = spec["layers"]
    assert list(layers) == ["track", "train", "render", "comp", "review"]
    assert sorted(spec["depends"]) == [("comp", "render", "LAYER_ON_LAYER"),
                                       ("render", "train", "LAYER_ON_LAYER"),
                                       ("review", "comp", "LAYER_ON_LAYER"),
                                       ("train", "track", "LAYER_ON_LAYER")]
    assert (layers["render"].range, layers["render"].chunk) == ("1001-1005", 2)
    assert (layers["comp"].range, layers["comp"].chunk) == ("1001-1005", 2)
    assert (layers["track"].range, layers["track"].chunk) == ("1", 1)
    assert (layers["review"].range, layers["review"].chunk) == ("1", 1)
    assert {layer.service for layer in layers.values()} == {"shell"}
    assert layers["train"].memory == "8192m" and layers["train"].gpus == 0
    assert spec["show"] == "SHOW" and spec["shot"] == "sh010"
    assert spec["env"] == {"VFX_DOUBLE_CONFIG_SHA256": config.load(shot.config).config_hash(),
                           "VFX_DOUBLE_JOB": str(job.folder)}
    assert "no Cuebot configured" in said[-1]
    assert not (tmp_path / "home" / ".opencue").exists()  # no pyoutline session written


def test_each_chunk_runs_a_real_vfx_double_command(shot: MiniShot) -> None:
    job, path, _ = written(shot)
    layers = opencue.read(path.read_text())["layers"]
    exe, cfg = job.parameters["VfxDouble"], str(shot.config.absolute())
    comp = [(frames, shlex.split(cmd)) for frames, cmd in opencue.expand(layers["comp"])]
    assert comp == [(f, [exe, "comp", cfg, "--frames", f])
                    for f in ("1001-1002", "1003-1004", "1005-1005")]
    render = [shlex.split(cmd) for _, cmd in opencue.expand(layers["render"])]
    assert render[-1] == [exe, "render", cfg, "--frames", "1005-1005", "--run", "run-001"]
    assert [shlex.split(c) for _, c in opencue.expand(layers["train"])] == [
        [exe, "train", cfg, "--run", "run-001"]]
    assert "#FRAME_START#-#FRAME_END#" in layers["comp"].cmd  # what RQD fills in per chunk


def test_gpu_steps_ask_for_gpus(shot: MiniShot) -> None:
    shot.edit("farm:", "train:\n  preset: gpu-256\nfarm:")
    _, path, _ = written(shot)
    layers = opencue.read(path.read_text())["layers"]
    assert (layers["train"].gpus, layers["train"].memory) == (1, "16384m")
    assert layers["render"].gpus == 1 and layers["comp"].gpus == 0


def test_until_and_chunk_size_follow_the_job(shot: MiniShot) -> None:
    shot.edit("chunk_size: 2", "chunk_size: 4")
    job = prepare(shot.config, until="render")
    out: list[str] = []
    assert opencue.run(job, RunOptions(), out.append) == 0
    layers = opencue.read((job.folder / "opencue" / "job.xml").read_text())["layers"]
    assert list(layers) == ["track", "train", "render"]
    assert [f for f, _ in opencue.expand(layers["render"])] == ["1001-1004", "1005-1005"]


def test_a_spec_that_differs_from_the_job_is_caught(shot: MiniShot) -> None:
    job, path, _ = written(shot)
    xml = path.read_text()
    opencue.check(job, xml)
    with pytest.raises(opencue.SpecMismatch, match=r"render chunks \(3\).*1001-1003"):
        opencue.check(job, xml.replace("<chunk>2</chunk>", "<chunk>3</chunk>"))
    with pytest.raises(opencue.SpecMismatch, match="depends"):
        opencue.check(job, xml.replace("<onlayer>render</onlayer>", "<onlayer>track</onlayer>"))
    with pytest.raises(opencue.SpecMismatch, match="comp chunks"):
        opencue.check(job, xml.replace(" comp ", " render "))


def test_submit_without_a_cuebot_says_so(shot: MiniShot, capsys) -> None:
    job = prepare(shot.config)
    with pytest.raises(ConfigError, match="none configured") as caught:
        opencue.run(job, RunOptions(submit=True), lambda line: None)
    assert "CUEBOT_HOSTS" in str(caught.value) and "nothing was submitted" in str(caught.value)
    assert (job.folder / "opencue" / "job.xml").is_file()
    assert main(["run", str(shot.config), "--backend", "opencue", "--submit"]) == 2
    assert "none configured" in capsys.readouterr().err


def test_submit_with_a_cuebot_launches_the_spec(shot: MiniShot,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import opencue as pycue

    launched: list[str] = []

    class FakeJob:
        def name(self) -> str:
            return "SHOW-sh010-user_vfx_double_job-001"

    def launch(spec: str) -> list[FakeJob]:
        launched.append(spec)
        return [FakeJob()]

    monkeypatch.setenv("CUEBOT_HOSTS", "cuebot.example:8443")
    monkeypatch.setattr(pycue.api, "launchSpecAndWait", launch)
    job, path, said = written(shot, submit=True)
    assert launched == [path.read_text().rstrip("\n")]
    assert "CUEBOT_HOSTS=cuebot.example:8443" in said[-2]
    assert said[-1] == "opencue: launched SHOW-sh010-user_vfx_double_job-001"


def test_without_pyoutline_one_line_says_how_to_install_it(shot: MiniShot,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "outline" or m.startswith("outline.")]:
        monkeypatch.setitem(sys.modules, name, None)
    job = prepare(shot.config)
    with pytest.raises(ConfigError, match=r"pip install 'vfx-double\[opencue\]'") as caught:
        opencue.run(job, RunOptions(), lambda line: None)
    assert "\n" not in str(caught.value)
    assert not (job.folder / "opencue").exists()
