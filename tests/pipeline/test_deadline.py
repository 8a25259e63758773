"""The ``deadline`` backend (issue 12, part 5): a Deadline Cloud job bundle that ``openjd
check`` accepts offline and the deadline client reads back; ``--submit`` only with a farm
and queue configured (a temporary deadline config here: the user's is never touched)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import deadline
from pipeline.backends import RunOptions
from pipeline.submit import Job, prepare
from tests.shots import MiniShot, make_shot
from vfx_double import config
from vfx_double.cli import main
from vfx_double.errors import ConfigError

OPENJD = Path(sys.executable).with_name("openjd")


@pytest.fixture
def shot(tmp_path: Path) -> MiniShot:
    s = make_shot(tmp_path)
    s.config.write_text(s.config.read_text() + "farm:\n  chunk_size: 2\n")
    return s


@pytest.fixture
def no_farm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deadline config of its own, with no farm or queue set."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DEADLINE_CONFIG_FILE_PATH", str(home / "deadline-config"))
    return home


def bundle_of(shot: MiniShot, **options) -> tuple[Job, Path, list[str]]:
    job = prepare(shot.config)
    said: list[str] = []
    assert deadline.run(job, RunOptions(**options), said.append) == 0
    return job, job.folder / deadline.BUNDLE, said


def openjd_check(template: Path) -> subprocess.CompletedProcess:
    if not OPENJD.is_file():
        pytest.skip("openjd-cli is not installed in this venv")
    return subprocess.run([str(OPENJD), "check", str(template)], capture_output=True,
                          text=True, timeout=60)


def test_the_bundle_passes_openjd_check_and_a_broken_one_does_not(shot: MiniShot,
                                                                  tmp_path: Path) -> None:
    job, bundle, said = bundle_of(shot)
    assert sorted(p.name for p in bundle.iterdir()) == [
        "asset_references.json", "parameter_values.json", "template.json"]
    assert json.loads((bundle / "template.json").read_text()) == job.template
    done = openjd_check(bundle / "template.json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passes validation" in done.stdout
    assert f"deadline bundle submit {bundle}" in said[-1]

    broken = json.loads((bundle / "template.json").read_text())
    broken["steps"][3]["dependencies"] = [{"dependsOn": "nowhere"}]
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    done = openjd_check(tmp_path / "broken.json")
    assert done.returncode != 0 and "nowhere" in done.stdout + done.stderr


def test_parameter_values_name_the_config_and_its_hash(shot: MiniShot) -> None:
    job, bundle, _ = bundle_of(shot)
    values = {p["name"]: p["value"] for p in
              json.loads((bundle / "parameter_values.json").read_text())["parameterValues"]}
    assert values == {"ShotConfig": str(shot.config.absolute()),
                      "VfxDouble": job.parameters["VfxDouble"],
                      "ConfigSha256": config.load(shot.config).config_hash(),
                      "JobDir": str(job.folder)}
    # and the deadline client reads the bundle the same way
    parameters = pytest.importorskip("deadline.client.job_bundle.parameters")
    read = {p["name"]: p.get("value") for p in parameters.read_job_bundle_parameters(str(bundle))}
    assert read["ShotConfig"] == str(shot.config.absolute())
    assert read["ConfigSha256"] == values["ConfigSha256"]


def test_asset_references_list_the_shot_inputs_and_the_work_area(shot: MiniShot) -> None:
    _, bundle, said = bundle_of(shot)
    written = json.loads((bundle / "asset_references.json").read_text())
    refs = written["assetReferences"]
    root = shot.root.absolute()
    assert refs["inputs"]["directories"] == [str(shot.plate_dir.absolute()), str(root / "ref")]
    assert refs["inputs"]["filenames"] == [str(shot.licence.absolute()),
                                           str(shot.config.absolute())]
    assert refs["outputs"]["directories"] == [str(root / "work" / "SHOW" / "sh010")]
    assert "inputs 2 files, 2 folders" in said[0]
    submission = pytest.importorskip("deadline.client.job_bundle.submission")
    back = submission.AssetReferences.from_dict(written)
    assert str(shot.plate_dir.absolute()) in back.input_directories


def test_a_show_file_and_weights_are_inputs_too(shot: MiniShot) -> None:
    (shot.config.parent / "_show.yaml").write_text("schema: ShowDefaults.1\n")
    (shot.root / "weights").mkdir()
    shot.edit("actor:", "track:\n  backend: fan\n  weights: ../../weights\nactor:")
    _, bundle, _ = bundle_of(shot)
    refs = json.loads((bundle / "asset_references.json").read_text())["assetReferences"]
    assert str((shot.config.parent / "_show.yaml").absolute()) in refs["inputs"]["filenames"]
    assert str((shot.root / "weights").absolute()) in refs["inputs"]["directories"]


def test_submit_without_a_farm_says_so_and_sends_nothing(shot: MiniShot, no_farm: Path) -> None:
    job = prepare(shot.config)
    with pytest.raises(ConfigError, match="none configured") as caught:
        deadline.run(job, RunOptions(submit=True), lambda line: None)
    assert "defaults.farm_id" in str(caught.value) and "defaults.queue_id" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert (job.folder / deadline.BUNDLE / "template.json").is_file()  # written, not sent
    assert not (no_farm / "deadline-config").exists()  # reading the config wrote nothing


def test_the_cli_exits_2_without_a_farm(shot: MiniShot, no_farm: Path, capsys) -> None:
    assert main(["run", str(shot.config), "--backend", "deadline", "--submit"]) == 2
    err = capsys.readouterr().err
    assert "none configured" in err and "nothing was submitted" in err
    # the bundle runs the workers' own vfx-double, not this machine's venv
    bundle = shot.root / "work" / "SHOW" / "sh010" / "farm" / "job-001" / deadline.BUNDLE
    values = json.loads((bundle / "parameter_values.json").read_text())["parameterValues"]
    assert {"name": "VfxDouble", "value": "vfx-double"} in values


def test_submit_with_a_farm_calls_deadline_bundle_submit(shot: MiniShot, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in ``deadline`` CLI (a configured farm; records what it is asked to do)."""
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "deadline"
    fake.write_text("#!/bin/sh\n"
                    f'echo "$@" >> "{calls}"\n'
                    'case "$3" in defaults.farm_id) echo farm-0123;; '
                    'defaults.queue_id) echo queue-4567;; esac\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(deadline, "deadline_cli", lambda: str(fake))
    said: list[str] = []
    job = prepare(shot.config)
    assert deadline.run(job, RunOptions(submit=True), said.append) == 0
    bundle = job.folder / deadline.BUNDLE
    assert calls.read_text().splitlines() == [
        "config get defaults.farm_id", "config get defaults.queue_id",
        f"bundle submit {bundle} --yes"]
    assert "farm-0123 / queue-4567" in said[-1]


def test_a_bundle_is_never_overwritten_and_a_changed_config_is_refused(shot: MiniShot,
                                                                       tmp_path: Path) -> None:
    job = prepare(shot.config)
    out = tmp_path / "bundle"
    assert deadline.run(job, RunOptions(out=out), lambda line: None) == 0
    with pytest.raises(ConfigError, match="not empty"):
        deadline.run(job, RunOptions(out=out), lambda line: None)
    shot.edit("chunk_size: 2", "chunk_size: 3")
    with pytest.raises(ConfigError, match=r"changed since: farm.chunk_size: 2 -> 3"):
        deadline.run(job, RunOptions(out=tmp_path / "other"), lambda line: None)
    assert not (tmp_path / "other").exists()
