"""Strict, line-aware YAML: ``yaml.safe_load`` semantics plus where each key came from.

A config is read into plain values with the safe loader, and separately composed into
nodes to learn each key's file and line. ``build`` then turns the values into frozen
dataclasses, refusing unknown keys (with the nearest valid one), wrong types, bad choices
and out-of-range numbers, each error naming the file and line.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from .errors import ConfigError
from .records import read_bounded

KeyPath = tuple[str, ...]


@dataclasses.dataclass
class Origins:
    """Where each key path was written: ``(file, line)`` with 1-based lines."""

    places: dict[KeyPath, tuple[Path, int]] = dataclasses.field(default_factory=dict)
    default_file: Path | None = None

    def where(self, path: KeyPath) -> str:
        """``file:line`` of the key, or of its nearest written parent."""
        for n in range(len(path), -1, -1):
            place = self.places.get(path[:n])
            if place is not None:
                return f"{place[0]}:{place[1]}"
        return str(self.default_file) if self.default_file else "<config>"

    def file_of(self, path: KeyPath) -> Path | None:
        for n in range(len(path), -1, -1):
            place = self.places.get(path[:n])
            if place is not None:
                return place[0]
        return self.default_file


def load_yaml(path: Path) -> tuple[dict[str, Any], Origins]:
    """Read a YAML mapping with ``yaml.safe_load`` and the line of every key."""
    try:
        text = read_bounded(path, "config", ConfigError, what="a shot config file").decode("utf-8")
    except FileNotFoundError as err:
        raise ConfigError(str(path), "a shot config file", "no such file",
                          "check the path") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), "a readable UTF-8 YAML file", str(err)) from err
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError as err:
        raise ConfigError(str(path), "a shot config nested a few levels deep",
                          "nesting deeper than can be read", "this is not a shot config") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        if isinstance(err, yaml.constructor.ConstructorError):
            raise ConfigError(where, "valid YAML with plain values", f"a disallowed tag ({problem})",
                              "remove the !!tag; configs are read with yaml.safe_load") from err
        raise ConfigError(where, "valid YAML", f"a syntax error ({problem})",
                          "fix the indentation or quoting on that line") from err
    if data is None:
        data, node = {}, None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1", "a mapping of keys at the top level",
                          type(data).__name__)
    origins = Origins(default_file=path)
    if node is not None:
        _index(node, (), path, origins, set())
    return data, origins


def _index(node: yaml.Node, prefix: KeyPath, path: Path, origins: Origins,
           visited: set[int]) -> None:
    """Record the line of every key. An alias is the node it names, indexed once where
    the anchor is: following each alias again would make a 1 KB file of nested aliases
    (a "billion laughs") cost gigabytes."""
    if not isinstance(node, yaml.MappingNode) or id(node) in visited:
        return
    visited.add(id(node))
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(f"{path}:{line}", "each key once per section",
                              f"'{key}' a second time", "remove one of them")
        seen.add(key)
        origins.places[prefix + (key,)] = (path, line)
        _index(value_node, prefix + (key,), path, origins, visited)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else in ``over`` replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def nearest(word: str, options: typing.Iterable[str], n: int = 3) -> list[str]:
    options = list(options)
    by_lower = {o.lower(): o for o in options}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.5)
    return [by_lower[f] for f in found]


def suggestion(word: str, options: typing.Iterable[str]) -> str:
    options = list(options)
    close = nearest(word, options)
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return "valid: " + ", ".join(f"'{o}'" for o in options)


def build(cls: type, data: Any, origins: Origins, path: KeyPath = (),
          base_dir: Path | None = None) -> Any:
    """Turn plain YAML values into the dataclass ``cls``, strictly."""
    where = origins.where(path)
    if not isinstance(data, dict):
        raise ConfigError(where, f"a mapping for '{'.'.join(path) or 'config'}'",
                          _describe(data))
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            section = ".".join(path) or "the top level"
            raise ConfigError(origins.where(path + (str(key),)),
                              f"a key of {section}", f"unknown key '{key}'",
                              suggestion(str(key), fields))
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, field in fields.items():
        key_path = path + (name,)
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(origins.where(path), f"key '{'.'.join(key_path)}'",
                                  "it missing", "add it (see shot_configs/demo for an example)")
            continue
        key_dir = _dir_of(origins, key_path, base_dir)
        values[name] = _convert(hints[name], data[name], origins, key_path, key_dir,
                                dict(field.metadata))
    try:
        return cls(**values)
    except ValueError as err:
        raise ConfigError(where, "consistent values", str(err)) from err


def _dir_of(origins: Origins, key_path: KeyPath, base_dir: Path | None) -> Path | None:
    file = origins.file_of(key_path)
    return file.parent if file is not None else base_dir


def _convert(hint: Any, value: Any, origins: Origins, path: KeyPath,
             base_dir: Path | None, meta: dict[str, Any]) -> Any:
    where = origins.where(path)
    key = ".".join(path)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, origins, path, base_dir, meta)
    parse = meta.get("parse")
    if parse is not None:
        try:
            value = parse(value)
        except (TypeError, ValueError) as err:
            raise ConfigError(where, f"{key} as {meta.get('expected', 'documented')}",
                              _describe(value), str(err) or None) from err
    if dataclasses.is_dataclass(hint):
        return build(hint, value, origins, path, base_dir)
    if origin is Literal:
        if value not in args:
            raise ConfigError(where, f"{key} one of " + ", ".join(repr(a) for a in args),
                              repr(value), suggestion(str(value), [str(a) for a in args]))
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(where, f"{key} as a list of {len(args)} "
                              + ", ".join(a.__name__ for a in args), _describe(value))
        return tuple(_convert(a, v, origins, path, base_dir, {}) for a, v in zip(args, value))
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(where, f"{key} as a list", _describe(value))
        return [_convert(args[0], v, origins, path, base_dir, {}) for v in value]
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(where, f"{key} as a path string", _describe(value))
        p = Path(value).expanduser()
        p = p if p.is_absolute() or base_dir is None else (base_dir / p)
        return Path(os.path.normpath(p))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(where, f"{key} as true or false", _describe(value))
        return value
    if hint in (int, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if hint is int and ok and not float(value).is_integer():
            ok = False
        if not ok:
            raise ConfigError(where, f"{key} as {'an integer' if hint is int else 'a number'}",
                              _describe(value))
        value = hint(value)
        if not math.isfinite(value):  # YAML's .nan / .inf pass every < and > test
            raise ConfigError(where, f"{key} as a finite number", repr(value))
        low, high = meta.get("min"), meta.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(where, f"{key} in [{low}, {high}]", repr(value))
        return value
    if hint is str:
        if not isinstance(value, str) or (not value.strip() and not meta.get("allow_empty")):
            raise ConfigError(where, f"{key} as a non-empty string", _describe(value))
        return value
    raise TypeError(f"yamlspec cannot build {hint!r} for {key}")


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list {value!r}" if len(repr(value)) < 60 else "a list"
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"
