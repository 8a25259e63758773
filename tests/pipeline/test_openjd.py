"""The shot's farm job as an Open Job Description template (issue 12, parts 1 and 3): the
graph the stages allow, checked with openjd-model, against a golden file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openjd.model import create_job, decode_job_template

from pipeline import graph, openjd
from tests.shots import MiniShot, make_shot
from vfx_double import config
from vfx_double.cli import main
from vfx_double.errors import ConfigError

GOLDEN = Path(__file__).parent / "golden" / "minishot.job.json"


@pytest.fixture
def shot(tmp_path: Path) -> MiniShot:
    s = make_shot(tmp_path)
    s.config.write_text(s.config.read_text() + "farm:\n  chunk_size: 2\n")
    return s


def portable(template: dict) -> dict:
    """The template with the test's temporary config path taken out."""
    out = json.loads(json.dumps(template))
    out["parameterDefinitions"][0]["default"] = "SHOT.yaml"
    out["parameterDefinitions"][2]["default"] = "<sha256 of the settings>"
    return out


def test_the_graph_is_what_the_stages_allow(shot: MiniShot) -> None:
    g = graph.build(config.load(shot.config))
    assert g.run == "run-001"  # the run the job will make, named at submission
    track, train, render, comp, review = g.steps
    assert track.chunks is None and track.depends_on == ()
    assert train.args == ("train", "{config}", "--run", "run-001") and train.chunks is None
    assert render.chunks == comp.chunks == ("1001-1002", "1003-1004", "1005-1005")
    assert "--run" in render.args and render.depends_on == ("train",)
    assert comp.depends_on == ("render",)  # its statistics read elements of neighbour chunks
    # one review of the whole comp: its movies and sidecar cover every frame
    assert review.args == ("review", "{config}") and review.chunks is None
    assert review.depends_on == ("comp",)


def test_the_template_is_valid_openjd_and_matches_the_golden_file(shot: MiniShot) -> None:
    template = openjd.template(graph.build(config.load(shot.config)))
    job = create_job(job_template=decode_job_template(
        template=template, supported_extensions=list(openjd.EXTENSIONS)), job_parameter_values={})
    assert [s.name for s in job.steps] == ["track", "train", "render", "comp", "review"]
    assert portable(template) == json.loads(GOLDEN.read_text())


def test_an_invalid_template_is_refused(shot: MiniShot) -> None:
    template = openjd.template(graph.build(config.load(shot.config)))
    template["steps"][1]["dependencies"] = [{"dependsOn": "nowhere"}]
    with pytest.raises(ConfigError, match="valid OpenJD jobtemplate-2023-09"):
        openjd.check(template)


def test_the_job_command(shot: MiniShot, tmp_path: Path, capsys) -> None:
    out = tmp_path / "job.json"
    assert main(["job", str(shot.config), "--out", str(out), "--run", "run-007"]) == 0
    said = capsys.readouterr().out
    assert "render (3 tasks)" in said and "comp (3 tasks)" in said
    assert "run-007" in json.loads(out.read_text())["name"]
    assert main(["job", str(shot.config), "--out", str(out)]) == 2
    assert "never overwritten" in capsys.readouterr().err


def test_training_on_several_gpus_is_one_task_that_starts_its_ranks(shot: MiniShot) -> None:
    shot.edit("farm:", "train:\n  preset: gpu-256\nfarm:\n  gpus: 4")
    template = openjd.template(graph.build(config.load(shot.config)))
    train = template["steps"][1]
    assert train["script"]["actions"]["onRun"]["args"][-2:] == ["--nproc", "4"]
    assert {"name": "amount.worker.gpu", "min": 4} in train["hostRequirements"]["amounts"]
    assert "parameterSpace" not in train  # one task: torchrun's ranks live inside it
    # cpu-tiny trains on the CPU: no GPUs asked for, whatever farm.gpus says
    shot.edit("preset: gpu-256", "preset: cpu-tiny")
    cpu = openjd.template(graph.build(config.load(shot.config)))["steps"][1]
    assert "--nproc" not in cpu["script"]["actions"]["onRun"]["args"]
    assert all(a["name"] != "amount.worker.gpu" for a in cpu["hostRequirements"]["amounts"])


def test_a_nuke_render_step_follows_comp_in_the_same_chunks(shot: MiniShot, tmp_path: Path) -> None:
    from pipeline.submit import prepare

    script = tmp_path / "comp.nk"
    job = prepare(shot.config, nuke_script=script)
    nuke = job.steps()[-1]
    assert nuke["name"] == "nuke" and nuke["dependencies"] == [{"dependsOn": "comp"}]
    assert job.tasks_of(nuke) == job.tasks_of(job.steps()[3])  # comp's chunks
    assert job.command(nuke, "1003-1004") == ["nuke", "-F", "1003-1004", "-x", str(script)]
    # a job that stops at render renders the script after render
    render_only = prepare(shot.config, until="render", nuke_script=script)
    assert render_only.steps()[-1]["dependencies"] == [{"dependsOn": "render"}]
