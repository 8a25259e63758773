"""Checkpoints: exact resume in-process and across SIGKILL / SIGTERM, pruning, refusals."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vfx_double.errors import ConfigError, WorkAreaError
from vfx_double.model import checkpoint as ck
from vfx_double.model.checkpoint import (
    Binding,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from vfx_double.model.rng import GracefulStop, capture_rng, restore_rng
from vfx_double.records import canonical_json

REPO = Path(__file__).resolve().parents[2]
ARCH = {"resolution": 8, "encoder_dims": 4, "layers": [4, 4]}
BINDING = Binding("SHOW", "sh010", "L-1", "cfg-abc", ARCH)


def _model() -> torch.nn.Module:
    # Dropout makes the result depend on the torch RNG, so RNG restore is exercised too.
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Dropout(0.2), torch.nn.Conv2d(4, 4, 3, padding=1),
                               torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 3, 1))


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + step)
    return torch.randn(2, 3, 8, 8, generator=g), torch.randn(2, 3, 8, 8, generator=g)


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: range) -> None:
    for step in steps:
        x, y = _batch(step)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


@pytest.fixture(autouse=True)
def one_thread():
    # A fixed thread count is part of CPU determinism (and these models are too small to
    # gain from more); restore it so other test modules are unaffected.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def deterministic():
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


def _saved(tmp_path: Path, step: int = 5, binding: Binding = BINDING) -> Path:
    torch.manual_seed(0)
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    _train(model, opt, range(step))
    return save_checkpoint(tmp_path, step, {"g": model}, {"g": opt}, binding, {"loss": 0.5})


def test_round_trip_continues_bit_identically(tmp_path: Path, deterministic) -> None:
    torch.manual_seed(0)
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.95))
    _train(model, opt, range(5))
    rng = capture_rng()
    folder = save_checkpoint(tmp_path, 5, {"g": model}, {"g": opt}, BINDING,
                             {"loss": 0.25, "nan": float("nan"), "sched": {"last": (1, 2)}},
                             rng=rng)
    assert folder.name == "step-000000005"

    torch.manual_seed(123)  # a different init, and a disturbed RNG, both must be overwritten
    model2 = _model()
    opt2 = torch.optim.Adam(model2.parameters(), lr=1.0)
    state = load_checkpoint(tmp_path, {"g": model2}, {"g": opt2}, BINDING)
    assert state["step"] == 5 and state["scalars"]["loss"] == 0.25
    assert np.isnan(state["scalars"]["nan"]) and state["scalars"]["sched"]["last"] == (1, 2)
    assert opt2.param_groups[0]["betas"] == (0.8, 0.95) and opt2.param_groups[0]["lr"] == 1e-2
    for idx, pstate in opt.state_dict()["state"].items():
        other = opt2.state_dict()["state"][idx]
        for key, value in pstate.items():
            assert other[key].dtype == value.dtype and torch.equal(other[key], value), key
    assert opt2.state_dict()["state"][0]["step"].dtype == torch.float32

    restore_rng(rng)
    _train(model, opt, range(5, 10))
    restore_rng(state["rng"])
    _train(model2, opt2, range(5, 10))
    for (name, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert torch.equal(a, b), name


def test_rng_round_trip_is_json() -> None:
    state = json.loads(canonical_json(capture_rng()))
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.random(), np.random.rand(), torch.rand(5)
    restore_rng(state)
    assert (random.random(), np.random.rand()) == expected[:2]
    assert torch.equal(torch.rand(3), expected[2])
    with pytest.raises(WorkAreaError, match="format"):
        restore_rng({"format": "Rng.9"})


# --- child processes: SIGKILL / SIGTERM ------------------------------------------------

CHILD = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path
    import torch
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    from vfx_double.model import checkpoint as ck, rng
    run_dir, target = Path(sys.argv[1]), int(sys.argv[2])
    slow = int(os.environ.get("SLOW_SAVE_STEP", "-1"))
    real_save = ck.save_file
    def save_file(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        if f".step-{slow:09d}.tmp-" in filename and "weights" in filename:
            print("in-save", slow, flush=True)
            time.sleep(60)
    ck.save_file = save_file
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Dropout(0.2), torch.nn.Conv2d(4, 3, 3, padding=1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    binding = ck.Binding("SHOW", "sh010", "L-1", "cfg", {"k": 1})
    start = 0
    if ck.latest_checkpoint(run_dir) is not None:
        state = ck.load_checkpoint(run_dir, {"m": model}, {"m": opt}, binding)
        rng.restore_rng(state["rng"])
        start = state["step"]
        print("resumed", start, flush=True)
    with rng.GracefulStop() as stop:
        for step in range(start + 1, target + 1):
            g = torch.Generator().manual_seed(step)
            x, y = torch.randn(2, 3, 8, 8, generator=g), torch.randn(2, 3, 8, 8, generator=g)
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            print("step", step, flush=True)
            time.sleep(float(os.environ.get("STEP_SLEEP", "0")))
            if step % 3 == 0 or stop.requested or step == target:
                ck.save_checkpoint(run_dir, step, {"m": model}, {"m": opt}, binding,
                                   {"loss": loss.item()})
            if stop.requested:
                print("stopped", step, flush=True)
                sys.exit(0)
''')


def _child(tmp_path: Path, run_dir: Path, target: int = 20, **env: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.Popen([sys.executable, str(script), str(run_dir), str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env)


def _wait_for(proc: subprocess.Popen, prefix: str) -> list[str]:
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.append(line.strip())
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"child ended before {prefix!r}: {lines} {proc.stderr.read()}")


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


def _final_hash(run_dir: Path, step: int = 20) -> str:
    path = run_dir / "checkpoints" / f"step-{step:09d}" / "weights.safetensors"
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("ref")
    _finish(_child(tmp, tmp / "run"))
    return _final_hash(tmp / "run")


def test_sigkill_between_steps_resumes_exactly(tmp_path: Path, reference: str) -> None:
    run = tmp_path / "run"
    proc = _child(tmp_path, run, STEP_SLEEP="0.3")
    _wait_for(proc, "step 7")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest_checkpoint(run).name == "step-000000006"
    out = _finish(_child(tmp_path, run))
    assert "resumed 6" in out
    assert _final_hash(run) == reference


def test_sigkill_during_checkpoint_write_uses_previous(tmp_path: Path, reference: str) -> None:
    run = tmp_path / "run"
    proc = _child(tmp_path, run, SLOW_SAVE_STEP="9")
    _wait_for(proc, "in-save 9")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckdir = run / "checkpoints"
    temps = [p for p in ckdir.iterdir() if p.name.startswith(".step-000000009.tmp-")]
    assert temps and (temps[0] / "weights.safetensors").is_file()
    assert not (ckdir / "step-000000009").exists()
    assert json.loads((run / "latest").read_text())["checkpoint"] == "step-000000006"
    assert latest_checkpoint(run).name == "step-000000006"
    out = _finish(_child(tmp_path, run))
    assert "resumed 6" in out
    assert _final_hash(run) == reference
    assert not temps[0].exists()  # the dead writer's temp folder was cleaned up


def test_sigterm_saves_and_exits_zero(tmp_path: Path, reference: str) -> None:
    run = tmp_path / "run"
    proc = _child(tmp_path, run, STEP_SLEEP="0.3")
    _wait_for(proc, "step 4")
    proc.send_signal(signal.SIGTERM)
    out = _finish(proc)
    stopped = int(out.split("stopped")[1].split()[0])
    assert latest_checkpoint(run).name == f"step-{stopped:09d}"
    assert f"resumed {stopped}" in _finish(_child(tmp_path, run))
    assert _final_hash(run) == reference


def test_graceful_stop_restores_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with GracefulStop() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        assert stop.requested and stop.signal == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before


# --- pruning, pointer, fallbacks ---------------------------------------------------------

def _tiny(tmp_path: Path, step: int, keep: int = 3) -> Path:
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return save_checkpoint(tmp_path, step, {"m": model}, {"m": opt}, BINDING, {}, keep=keep)


def _names(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "checkpoints").iterdir())


def test_keep_prunes_but_never_latest(tmp_path: Path) -> None:
    for step in (10, 20, 30, 40):
        _tiny(tmp_path, step, keep=2)
    assert _names(tmp_path) == ["step-000000030", "step-000000040"]
    assert json.loads((tmp_path / "latest").read_text())["checkpoint"] == "step-000000040"
    _tiny(tmp_path, 5, keep=1)  # a lower step (resumed from a fallback) is still kept
    assert _names(tmp_path) == ["step-000000005", "step-000000040"]
    assert latest_checkpoint(tmp_path).name == "step-000000005"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_resave_same_step_replaces(tmp_path: Path) -> None:
    _tiny(tmp_path, 3)
    _tiny(tmp_path, 3)
    assert _names(tmp_path) == ["step-000000003"]
    assert latest_checkpoint(tmp_path).name == "step-000000003"


def test_latest_written_atomically(tmp_path: Path, monkeypatch) -> None:
    _tiny(tmp_path, 1)
    before = (tmp_path / "latest").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")
    # The folder is renamed with os.rename; only the pointer write goes through os.replace.
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        _tiny(tmp_path, 2)
    monkeypatch.undo()
    assert (tmp_path / "latest").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert latest_checkpoint(tmp_path).name == "step-000000001"


def test_fallbacks_when_latest_missing_or_damaged(tmp_path: Path) -> None:
    _tiny(tmp_path, 1)
    _tiny(tmp_path, 2)
    (tmp_path / "checkpoints" / ".step-000000009.tmp-1-0").mkdir()  # crash mid-write
    (tmp_path / "latest").unlink()
    assert latest_checkpoint(tmp_path).name == "step-000000002"
    _tiny(tmp_path, 3)
    weights = tmp_path / "checkpoints" / "step-000000003" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    assert latest_checkpoint(tmp_path).name == "step-000000002"
    (tmp_path / "latest").write_text("not json")
    assert latest_checkpoint(tmp_path).name == "step-000000002"
    assert latest_checkpoint(tmp_path / "nothing") is None
    with pytest.raises(WorkAreaError, match="complete checkpoint"):
        load_checkpoint(tmp_path / "nothing", {}, {}, BINDING)


# --- refusals ----------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, hint", [
    ("show", "OTHER", "another show"),
    ("shot", "sh020", "another shot"),
    ("licence_id", "L-2", "another licence"),
    ("config_hash", "cfg-xyz", "other training settings"),
    ("architecture", {**ARCH, "encoder_dims": 8}, "another architecture"),
])
def test_binding_mismatch_refused(tmp_path: Path, field: str, value, hint: str) -> None:
    _saved(tmp_path)
    other = Binding(**{**BINDING.__dict__, field: value})
    model = _model()
    with pytest.raises(ConfigError, match=hint) as info:
        load_checkpoint(tmp_path, {"g": model}, {"g": torch.optim.Adam(model.parameters())},
                        other)
    message = str(info.value)
    assert message.startswith(field) and "\n" not in message
    assert other.mismatch(BINDING).startswith(field)
    assert BINDING.mismatch(BINDING) is None
    if field == "licence_id":
        assert message.startswith("licence_id: expected L-2, found L-1")
    if field == "architecture":
        assert message.startswith("architecture.encoder_dims: expected 8, found 4")


def test_tampered_weights_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    weights = folder / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    model = _model()
    with pytest.raises(WorkAreaError, match="sha256"):
        load_checkpoint(tmp_path, {"g": model}, {"g": torch.optim.Adam(model.parameters())},
                        BINDING, path=folder)


def test_newer_schema_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    state = json.loads((folder / "state.json").read_text())
    state["schema"] = "Checkpoint.2"
    (folder / "state.json").write_text(json.dumps(state))
    model = _model()
    with pytest.raises(WorkAreaError, match="newer"):
        load_checkpoint(tmp_path, {"g": model}, {"g": torch.optim.Adam(model.parameters())},
                        BINDING)


def test_state_json_contents(tmp_path: Path) -> None:
    state = json.loads((_saved(tmp_path) / "state.json").read_text())
    assert state["schema"] == "Checkpoint.1" and state["step"] == 5
    assert state["binding"]["licence_id"] == "L-1" and state["binding"]["architecture"] == ARCH
    assert set(state["files"]) == {"weights.safetensors", "optim.safetensors"}
    assert {"torch", "numpy"} <= set(state["versions"])
    assert state["optimizers"]["g"]["state"]["0"]["step"] == {"__tensor__": "optim/g/0/step"}


def test_no_unsafe_loading_in_source() -> None:
    for module in ("checkpoint.py", "rng.py"):
        source = (Path(ck.__file__).parent / module).read_text()
        # "safetensors.torch.load_file" is the safe reader; torch's own loader must not appear.
        assert not re.search(r"(?<![\w.])torch\.load\b", source), module
        assert "pickle" not in source, module


def test_checkpoint_bound_to_an_older_model_spec_still_loads(tmp_path: Path) -> None:
    """Weights trained under ModelSpec.1 (before layouts and padding) are DF with zero
    padding: render asks for that architecture in today's schema and gets them."""
    from vfx_double.model.networks import FaceModel, ModelSpec

    old = {"schema": "ModelSpec.1", "resolution": 64, "encoder_dims": 4, "inter_dims": 16,
           "decoder_dims": 4, "disc_dims": 0}
    spec = ModelSpec.from_dict(old)
    model = FaceModel(spec)
    binding = Binding("SHOW", "sh010", "L-1", "cfg", old)
    save_checkpoint(tmp_path, 5, {"model": model}, {"generator": torch.optim.Adam(
        model.parameters())}, binding, {})
    folder = latest_checkpoint(tmp_path)
    state = load_weights(folder, {"model": FaceModel(spec)},
                         {"architecture": spec.to_dict(), "licence_id": "L-1"})
    assert state["step"] == 5


def test_resume_refuses_a_run_whose_checkpoints_are_all_damaged(tmp_path: Path) -> None:
    assert ck.resume_checkpoint(tmp_path) is None  # no checkpoint folder: may start at 0
    (tmp_path / "checkpoints" / ".step-000000001.tmp-1-0").mkdir(parents=True)
    assert ck.resume_checkpoint(tmp_path) is None  # killed mid-first-save: same
    _tiny(tmp_path, 1)
    _tiny(tmp_path, 2)
    weights = tmp_path / "checkpoints" / "step-000000002" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    assert ck.resume_checkpoint(tmp_path).name == "step-000000001"  # an earlier one is fine
    (tmp_path / "checkpoints" / "step-000000001" / "state.json").write_text("{")
    with pytest.raises(WorkAreaError) as info:
        ck.resume_checkpoint(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'checkpoints'}: expected a complete, undamaged")
    assert "2 checkpoint folders, none complete; the newest, " \
           "checkpoints/step-000000002/weights.safetensors: expected sha256" in message
    assert "start a new run without --resume" in message and "\n" not in message


def test_a_damaged_safetensors_header_is_a_one_line_error(tmp_path: Path) -> None:
    # issue 11 (exit-1 list): a hostile edit that also fixes the sha in state.json reached
    # safetensors' own SafetensorError (exit 1)
    folder = _saved(tmp_path)
    weights = folder / "weights.safetensors"
    weights.write_bytes(b"\xff" * 8 + weights.read_bytes()[8:])
    state = json.loads((folder / "state.json").read_text())
    state["files"]["weights.safetensors"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (folder / "state.json").write_bytes(canonical_json(state))
    with pytest.raises(WorkAreaError, match="readable safetensors file"):
        load_weights(folder, {"g": _model()}, {"show": "SHOW"})
