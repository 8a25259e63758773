"""A Nuke node graph as plain data: what the .nk writer writes, the host adapter builds
through ``nuke``, and the tests' reference evaluator runs.

- :class:`Node`: a Nuke node class (``Read``, ``Grade``, ``Merge2``, ``Group``...), its
  name, its knobs (name -> value) and its inputs by Nuke's input number (``Merge2``: input
  0 is B, input 1 is A; ``None`` leaves an input unconnected). A ``Group``'s nodes are in
  ``children`` and its ``Output`` is among them; an ``Input`` child stands for the group's
  input of that number (knob ``number``).
- Knob values: ``str``, ``int``, ``float``, ``bool``, a tuple of those (array knobs, e.g. a
  Grade's per-channel ``multiply``), or :class:`Curve` / a tuple of Curves (animated: one
  per channel or per x/y).
- User knobs: a knob the node's class does not have natively (a Group's controls: shot
  config, version, mix, Reload...) is declared in the node's ``user_knobs`` as a
  :class:`UserKnob` (Nuke's type id, label, and flags as a .nk writes them: a slider's
  ``R lo hi``, a button's ``T script``), in panel order; its value,
  if any, is in ``knobs`` like any other. A knob name in ``knobs`` that is neither native
  nor declared is an error in the host (Nuke raises on it) and in the tests' fake.
- :class:`Graph`: nodes in an order where every input comes before the node that uses it
  (what the .nk stack needs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Curve:
    """An animated knob channel: a value per frame (Nuke ``{curve x1001 v v ...}``)."""

    keys: tuple[tuple[int, float], ...]

    @classmethod
    def of(cls, values: dict[int, float]) -> Curve:
        return cls(tuple(sorted((int(f), float(v)) for f, v in values.items())))

    def at(self, frame: int) -> float:
        """The value at ``frame`` (linear between keys, held beyond the ends)."""
        keys = self.keys
        if frame <= keys[0][0]:
            return keys[0][1]
        if frame >= keys[-1][0]:
            return keys[-1][1]
        for (f0, v0), (f1, v1) in zip(keys, keys[1:]):
            if f0 <= frame <= f1:
                return v0 + (v1 - v0) * (frame - f0) / (f1 - f0)
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class Expr:
    """A knob set by a Nuke expression (written ``{{text}}``), e.g. ``parent.mix`` to
    follow the enclosing Group's user knob ``mix``."""

    text: str


@dataclass(frozen=True)
class UserKnob:
    """A knob added to a node (``addUserKnob {type name label ...}`` in a .nk): ``type`` is
    Nuke's knob type id (:data:`USER_KNOB_TYPES`), ``flags`` the rest of its definition
    as written (e.g. ``("R", "0", "1")`` for a slider's range), its value in the node's
    knobs under ``name`` (none for a tab or a button)."""

    type: int
    name: str
    label: str = ""
    flags: tuple[str, ...] = ()


#: the user knob type ids the plugin uses, as Nuke writes them in ``addUserKnob``
USER_KNOB_TYPES = {"Tab_Knob": 20, "String_Knob": 1, "File_Knob": 2, "Int_Knob": 3,
                   "Boolean_Knob": 6, "Double_Knob": 7, "PyScript_Knob": 22,
                   "Text_Knob": 26}

Scalar = Union[str, int, float, bool]
Value = Union[Scalar, Curve, Expr, tuple[Union[Scalar, Curve, Expr], ...]]


@dataclass
class Node:
    cls: str
    name: str
    knobs: dict[str, Value] = field(default_factory=dict)
    inputs: list[str | None] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    #: knobs added to this node, in panel order (see :class:`UserKnob`)
    user_knobs: list[UserKnob] = field(default_factory=list)


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)

    def add(self, node: Node) -> Node:
        known = {n.name for n in self.nodes}
        missing = [i for i in node.inputs if i is not None and i not in known]
        if missing:
            raise ValueError(f"{node.name}: inputs {missing} are not in the graph yet")
        if node.name in known:
            raise ValueError(f"{node.name}: a node of that name is in the graph already")
        self.nodes.append(node)
        return node

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)
