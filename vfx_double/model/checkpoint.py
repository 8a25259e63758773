"""Training checkpoints for exact resume: tensors in safetensors, everything else in JSON.

Layout of one run (DESIGN.md, Artefacts)::

    train/run-002/latest                          {"checkpoint": "step-000001234", ...}
    train/run-002/checkpoints/step-000001234/     weights.safetensors  optim.safetensors  state.json

A checkpoint folder is written under a temporary name (``.step-….tmp-<pid>-<n>``), fsynced
and renamed into place, so a folder with a final name is always complete; ``latest`` is
then replaced atomically. A run killed at any point therefore finds either the new
checkpoint or the previous one, never half of one. Tensors are only ever read with
``safetensors.torch.load_file``: no loader that can execute code touches these files.

Every checkpoint is bound to a show, shot, licence, config hash and architecture; loading
one into a run with a different binding is refused with a one-line error naming the field.
"""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import torch
from safetensors.torch import load_file, save_file

from ..errors import ConfigError, WorkAreaError
from ..io.atomic import fsync_dir, fsync_file, sweep_stale, temp_path_for, write_json
from ..records import canonical_json, check_schema, hash_file, parse_json
from .binding import HINTS as _HINTS
from .binding import Binding, first_difference, plain, shown
from .rng import capture_rng

__all__ = ["Binding", "latest_checkpoint", "load_checkpoint", "load_weights", "resume_checkpoint",
           "save_checkpoint"]

SCHEMA = ("Checkpoint", 1)
LATEST_SCHEMA = ("CheckpointLatest", 1)
WEIGHTS = "weights.safetensors"
OPTIM = "optim.safetensors"
STATE = "state.json"
_STEP_DIR = re.compile(r"step-(\d{9,})")

# --- JSON side of the state: exact round trip for tuples, non-finite floats, tensors ----

def _to_json(value: Any, tensors: dict[str, torch.Tensor], key: str) -> Any:
    """JSON form of ``value``; tensors go into ``tensors`` under ``key`` and leave a reference."""
    if isinstance(value, torch.Tensor):
        # clone: safetensors refuses views and shared storage (tied weights, Adam state).
        tensors[key] = value.detach().to("cpu").contiguous().clone()
        return {"__tensor__": key}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # json would write NaN (not JSON); repr of a finite float round-trips exactly.
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, tuple):  # Adam's betas: restore the same type it was given
        return {"__tuple__": [_to_json(v, tensors, f"{key}/{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_to_json(v, tensors, f"{key}/{i}") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _to_json(v, tensors, f"{key}/{k}") for k, v in value.items()}
    raise ConfigError(f"checkpoint value {key}", "numbers, strings, lists, str-keyed dicts "
                      "or tensors", type(value).__name__, "convert it before saving")


def _from_json(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(value, list):
        return [_from_json(v, tensors, where) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"__tensor__"}:
        if value["__tensor__"] not in tensors:
            raise WorkAreaError(where, f"tensor {value['__tensor__']} in {OPTIM}", "missing",
                                "the checkpoint is damaged; resume from an earlier one")
        return tensors[value["__tensor__"]]
    if set(value) == {"__tuple__"}:
        return tuple(_from_json(v, tensors, where) for v in value["__tuple__"])
    if set(value) == {"__float__"}:
        return float(value["__float__"])
    return {k: _from_json(v, tensors, where) for k, v in value.items()}


# --- files ------------------------------------------------------------------------------

def _step_folders(ckdir: Path) -> list[tuple[int, Path]]:
    """Finished checkpoint folders (final names only, temp folders never), oldest first."""
    if not ckdir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckdir.iterdir()
             if p.is_dir() and (m := _STEP_DIR.fullmatch(p.name))]
    return sorted(found)


def _read_state(folder: Path) -> dict[str, Any]:
    where = str(folder / STATE)
    try:
        raw = (folder / STATE).read_bytes()
    except OSError as err:
        raise WorkAreaError(where, "a checkpoint state file", f"unreadable ({err.strerror})",
                            "the checkpoint is incomplete; resume from an earlier one") from err
    state = parse_json(raw, where, WorkAreaError)
    if not isinstance(state, dict):
        raise WorkAreaError(where, "a JSON object", type(state).__name__,
                            "the checkpoint is damaged")
    return state


def _check_hashes(folder: Path, state: dict[str, Any]) -> None:
    files = state.get("files")
    for name in (WEIGHTS, OPTIM):
        expected = files.get(name, {}).get("sha256") if isinstance(files, dict) else None
        where = str(folder / name)
        if not (folder / name).is_file():
            raise WorkAreaError(where, "a checkpoint tensor file", "missing",
                                "the checkpoint is incomplete; resume from an earlier one")
        actual = hash_file(folder / name)
        if actual != expected:
            raise WorkAreaError(where, f"sha256 {expected}", f"sha256 {actual}",
                                "the file changed after it was written; resume from an "
                                "earlier checkpoint (pass path=)")


def _damage(folder: Path) -> WorkAreaError | None:
    """What keeps ``folder`` from being a finished, undamaged checkpoint; None when nothing
    does. A newer-schema one raises: refuse, never skip it."""
    try:
        state = _read_state(folder)
    except WorkAreaError as err:
        return err
    schema = state.get("schema")
    if not (isinstance(schema, str) and schema.startswith(f"{SCHEMA[0]}.")):
        return WorkAreaError(str(folder / STATE), f"schema {SCHEMA[0]}.{SCHEMA[1]}",
                             repr(schema)[:60])
    check_schema(schema, SCHEMA, str(folder / STATE), WorkAreaError)
    try:
        _check_hashes(folder, state)
    except WorkAreaError as err:
        return err
    except OSError as err:
        return WorkAreaError(str(folder), "readable checkpoint files", err.strerror or str(err))
    return None


def _is_complete(folder: Path) -> bool:
    return _damage(folder) is None


def _remove_folder(path: Path) -> None:
    """Rename away first, so a crash mid-delete never leaves a damaged folder with a final name."""
    trash = temp_path_for(path)
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _prune(ckdir: Path, keep: int, protected: str) -> None:
    folders = _step_folders(ckdir)
    for _, folder in folders[:-keep]:
        if folder.name != protected:
            _remove_folder(folder)
    # Temp folders of writers that died (SIGKILL mid-save): ours is never among them.
    sweep_stale(ckdir, folders=True)


# --- public API -------------------------------------------------------------------------

def save_checkpoint(run_dir: Path, step: int, modules: dict[str, torch.nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer], binding: Binding,
                    scalars: dict, rng: dict | None = None, keep: int = 3) -> Path:
    """Write ``run_dir/checkpoints/step-<step>/``, point ``latest`` at it, keep the newest ``keep``.

    ``rng`` defaults to :func:`capture_rng` now; pass a state captured earlier if the loop
    has drawn numbers since the step ended. Returns the checkpoint folder.
    """
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ConfigError("save_checkpoint step", "an integer >= 0", repr(step))
    if keep < 1:
        raise ConfigError("save_checkpoint keep", "at least 1", repr(keep))
    run_dir = Path(run_dir)
    ckdir = run_dir / "checkpoints"
    ckdir.mkdir(parents=True, exist_ok=True)
    final = ckdir / f"step-{step:09d}"

    weights: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        if not name or "/" in name:
            raise ConfigError(f"checkpoint module name {name!r}", "a non-empty name without '/'")
        for key, tensor in module.state_dict().items():
            if not isinstance(tensor, torch.Tensor):
                raise ConfigError(f"module {name} state {key}", "a tensor",
                                  type(tensor).__name__, "extra_state is not supported")
            weights[f"module/{name}/{key}"] = tensor.detach().to("cpu").contiguous().clone()
    extra: dict[str, torch.Tensor] = {}
    optim_json: dict[str, Any] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        # Per-parameter state keyed by the parameter's index; tensors (exp_avg, and Adam's
        # float32 'step') go to optim.safetensors with dtype kept, numbers stay in JSON.
        optim_json[name] = {
            "param_groups": _to_json(sd["param_groups"], extra, f"optim/{name}/group"),
            "state": {str(idx): _to_json(pstate, extra, f"optim/{name}/{idx}")
                      for idx, pstate in sd["state"].items()},
        }
    scalars_json = _to_json(dict(scalars), extra, "scalars")

    tmp = temp_path_for(final)
    tmp.mkdir()
    try:
        # One metadata key only: safetensors writes metadata from a Rust HashMap, whose key
        # order varies per process, so two keys would make identical weights hash differently.
        meta = {"vfx_double": f"{SCHEMA[0]}.{SCHEMA[1]} step {step}"}
        save_file(weights, str(tmp / WEIGHTS), metadata=meta)
        save_file(extra, str(tmp / OPTIM), metadata=meta)
        state = {
            "schema": f"{SCHEMA[0]}.{SCHEMA[1]}",
            "step": step,
            "binding": binding.to_dict(),
            "modules": sorted(modules),
            "optimizers": optim_json,
            "scalars": scalars_json,
            "rng": rng if rng is not None else capture_rng(),
            "files": {name: {"sha256": hash_file(tmp / name), "bytes": (tmp / name).stat().st_size}
                      for name in (WEIGHTS, OPTIM)},
            "versions": {"torch": torch.__version__, "numpy": np.__version__,
                         "safetensors": safetensors.__version__,
                         "python": platform.python_version()},
        }
        (tmp / STATE).write_bytes(canonical_json(state))
        for name in (WEIGHTS, OPTIM, STATE):
            fsync_file(tmp / name)
        fsync_dir(tmp)
        # A re-save of the same step (SIGTERM right after a periodic save) replaces it.
        old = None
        if final.exists():
            old = temp_path_for(final)
            os.rename(final, old)
        os.rename(tmp, final)
        fsync_dir(ckdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_json(run_dir / "latest", {"schema": f"{LATEST_SCHEMA[0]}.{LATEST_SCHEMA[1]}",
                                    "checkpoint": final.name, "step": step})
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    _prune(ckdir, keep, protected=final.name)
    return final


def _latest_named(run_dir: Path) -> Path | None:
    """The folder ``latest`` names, or None when it is missing or unreadable."""
    try:
        data = parse_json((run_dir / "latest").read_bytes(), str(run_dir / "latest"),
                          WorkAreaError)
    except (OSError, WorkAreaError):
        return None
    name = data.get("checkpoint") if isinstance(data, dict) else None
    # Only a bare step-folder name: the pointer must not lead outside checkpoints/.
    if not isinstance(name, str) or not _STEP_DIR.fullmatch(name):
        return None
    return run_dir / "checkpoints" / name


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The folder to resume from: the one ``latest`` names if complete, else the newest
    complete one (a crash mid-write or a damaged folder falls back); None when there is none.
    """
    run_dir = Path(run_dir)
    named = _latest_named(run_dir)
    if named is not None and named.is_dir() and _is_complete(named):
        return named
    for _, folder in reversed(_step_folders(run_dir / "checkpoints")):
        if folder != named and _is_complete(folder):
            return folder
    return None


def resume_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint a resume continues from (:func:`latest_checkpoint`'s); None when the
    run has no checkpoint folder at all (killed before its first save).

    A run whose checkpoint folders are all incomplete or damaged is refused (WorkAreaError
    naming the newest folder and its damage): starting it over from step 0 in the same
    folder would silently throw its training away.
    """
    run_dir = Path(run_dir)
    found = latest_checkpoint(run_dir)
    folders = _step_folders(run_dir / "checkpoints")
    if found is not None or not folders:
        return found
    newest = folders[-1][1]
    damage = _damage(newest)
    if damage is None:  # completed meanwhile by another writer
        return newest
    where = damage.where.replace(f"{run_dir}/", "")
    count = f"{len(folders)} checkpoint folder{'s' if len(folders) > 1 else ''}"
    raise WorkAreaError(str(run_dir / "checkpoints"), "a complete, undamaged checkpoint to resume "
                        "from", f"{count}, none complete; the newest, {where}: expected "
                        f"{damage.expected}, found {damage.found}",
                        "resume from an earlier run or start a new run without --resume (or "
                        f"restore {newest.name} from backup); nothing in {run_dir.name} was "
                        "changed")


def _load_tensors(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors; a damaged header is a one-line WorkAreaError (the
    file's sha256 matched state.json, so both were changed together)."""
    try:
        return load_file(str(path), device=str(device))
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise WorkAreaError(str(path), "a readable safetensors file",
                            " ".join(str(err).split())[:200],
                            "the checkpoint is damaged; resume or render from an earlier one") from err


def _load_modules(folder: Path, modules: dict[str, torch.nn.Module],
                  device: str | torch.device) -> None:
    """Each module's tensors (``module/<name>/...``) from the weights file, strictly."""
    weights = _load_tensors(folder / WEIGHTS, device)
    for name, module in modules.items():
        prefix = f"module/{name}/"
        sd = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(sd, strict=True)
        except RuntimeError as err:
            raise ConfigError(f"{folder / WEIGHTS} ({name})", "tensors matching the model",
                              " ".join(str(err).split())[:300]) from err


def load_checkpoint(run_dir: Path, modules: dict[str, torch.nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer], binding: Binding, *,
                    path: Path | None = None, device: str | torch.device = "cpu"
                    ) -> dict[str, Any]:
    """Restore modules (strict) and optimizers exactly; return state.json (step, scalars, rng).

    RNG states are returned, not applied: call :func:`restore_rng` with ``state["rng"]``
    right before the first resumed step.
    """
    folder = Path(path) if path is not None else latest_checkpoint(Path(run_dir))
    if folder is None:
        raise WorkAreaError(f"{Path(run_dir) / 'checkpoints'}", "a complete checkpoint", "none",
                            "start the run from step 0 instead of resuming")
    where = str(folder / STATE)
    state = _read_state(folder)
    check_schema(state.get("schema"), SCHEMA, where, WorkAreaError)
    diff = binding.difference(Binding.from_dict(state.get("binding"), where))
    if diff is not None:
        field, expected, found = diff
        raise ConfigError(field, shown(expected), f"{shown(found)} in checkpoint {folder}",
                          _HINTS[field.split(".")[0]])
    _check_hashes(folder, state)
    if sorted(modules) != state.get("modules") or sorted(optimizers) != sorted(
            state.get("optimizers", {})):
        raise ConfigError(f"{where} (modules/optimizers)",
                          f"modules {sorted(modules)}, optimizers {sorted(optimizers)}",
                          f"modules {state.get('modules')}, optimizers "
                          f"{sorted(state.get('optimizers', {}))}",
                          "the training code does not match the checkpoint")
    _load_modules(folder, modules, device)
    extra = _load_tensors(folder / OPTIM, device)
    for name, opt in optimizers.items():
        entry = state["optimizers"][name]
        sd = {"state": {int(idx): _from_json(p, extra, where) for idx, p in entry["state"].items()},
              "param_groups": _from_json(entry["param_groups"], extra, where)}
        try:
            opt.load_state_dict(sd)
        except (ValueError, KeyError) as err:
            raise ConfigError(f"{where} (optimizer {name})", "the same parameter groups",
                              " ".join(str(err).split())[:300]) from err
    state["scalars"] = _from_json(state.get("scalars", {}), extra, where)
    state["path"] = str(folder)
    return state


def load_weights(folder: Path, modules: dict[str, torch.nn.Module], expect: dict[str, Any],
                 device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load only the named modules' weights from one checkpoint (render, export).

    ``expect`` holds the binding fields the caller requires (e.g. show, shot, licence_id,
    architecture); the first that differs is refused like a resume would be. Returns
    state.json with ``path`` and the weights file's sha256 (``weights_sha256``) added.
    """
    folder = Path(folder)
    where = str(folder / STATE)
    state = _read_state(folder)
    check_schema(state.get("schema"), SCHEMA, where, WorkAreaError)
    bound = Binding.from_dict(state.get("binding"), where).to_dict()
    for name, value in expect.items():
        diff = first_difference(name, plain(value), bound[name])
        if diff is not None:
            field, wanted, found = diff
            raise ConfigError(field, shown(wanted), f"{shown(found)} in checkpoint {folder}",
                              _HINTS[field.split(".")[0]])
    _check_hashes(folder, state)
    _load_modules(folder, modules, device)
    return {**state, "path": str(folder), "weights_sha256": state["files"][WEIGHTS]["sha256"]}
