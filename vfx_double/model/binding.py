"""What a checkpoint belongs to (show, shot, licence, config, architecture) and how a
mismatch is reported: the first differing field, as a dotted path, with both values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, WorkAreaError
from ..model.networks import ModelSpec
from ..records import canonical_json, parse_json

# What a mismatch in each bound field means to the person resuming.
HINTS = {
    "show": "this checkpoint belongs to another show; start a new run for this show",
    "shot": "this checkpoint belongs to another shot; start a new run for this shot",
    "licence_id": "this checkpoint belongs to another licence; a run may only resume "
                  "weights trained under its own licence, start a new run",
    "config_hash": "this checkpoint was trained with other training settings (the train: "
                   "section, the network colourspace or another faceset version); start a new "
                   "run or restore what it was trained with",
    "architecture": "this checkpoint has another architecture (ModelSpec); start a new run "
                    "or use the preset it was trained with",
}


def plain(value: Any) -> Any:
    """The JSON form of a value (tuples become lists), so bindings compare as stored."""
    return parse_json(canonical_json(value), "binding", ConfigError)


def current_architecture(value: Any) -> Any:
    """A ModelSpec dict in today's schema (an older one upgraded: ModelSpec.1 is DF with
    zero padding), so a checkpoint trained before a schema change still matches the
    architecture it really has; anything else as it is."""
    if isinstance(value, dict) and str(value.get("schema", "")).startswith("ModelSpec."):
        return ModelSpec.from_dict(value).to_dict()
    return value


def shown(value: Any) -> str:
    return value if isinstance(value, str) else canonical_json(value).decode("utf-8")


def first_difference(path: str, expected: Any, found: Any) -> tuple[str, Any, Any] | None:
    """The dotted path of the first differing leaf (keys in sorted order), with both values."""
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in sorted(set(expected) | set(found)):
            if key not in expected or key not in found:
                return f"{path}.{key}", expected.get(key, "(absent)"), found.get(key, "(absent)")
            diff = first_difference(f"{path}.{key}", expected[key], found[key])
            if diff:
                return diff
        return None
    return None if expected == found else (path, expected, found)


@dataclass(frozen=True)
class Binding:
    """What a checkpoint belongs to; every field must match for a run to resume from it.

    ``config_hash`` is the hash of the training settings only (``train.stage.training_hash``:
    the train section, network colourspace and faceset), not of the whole shot config; a
    checkpoint written before that change holds the whole config's hash and cannot resume.
    """

    show: str
    shot: str
    licence_id: str
    config_hash: str
    architecture: dict  # ModelSpec.to_dict()

    FIELDS = ("show", "shot", "licence_id", "config_hash", "architecture")

    def to_dict(self) -> dict[str, Any]:
        out = {name: plain(getattr(self, name)) for name in self.FIELDS}
        out["architecture"] = current_architecture(out["architecture"])
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Binding:
        if not isinstance(data, dict) or set(data) != set(cls.FIELDS):
            raise WorkAreaError(f"{where} (field binding)", f"keys {', '.join(cls.FIELDS)}",
                                shown(sorted(data) if isinstance(data, dict) else data),
                                "the checkpoint is damaged")
        return cls(**data)

    def difference(self, other: Binding) -> tuple[str, Any, Any] | None:
        """(field path, value here, value in ``other``) of the first difference, or None."""
        mine, theirs = self.to_dict(), other.to_dict()
        for name in self.FIELDS:
            diff = first_difference(name, mine[name], theirs[name])
            if diff:
                return diff
        return None

    def mismatch(self, other: Binding) -> str | None:
        """``"licence_id: expected L-2, found L-1"`` for the first differing field, or None.

        ``self`` is what the running job expects, ``other`` what the checkpoint holds.
        """
        diff = self.difference(other)
        if diff is None:
            return None
        path, expected, found = diff
        return f"{path}: expected {shown(expected)}, found {shown(found)}"
