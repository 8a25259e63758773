"""Graph -> .nk text, the way Nuke writes a script.

Nuke reads a script as TCL-like commands. Each node block ``Class { knob value ... }``
takes its inputs off a stack and pushes itself: ``inputs N`` (1 when absent) pops N
nodes, the top of the stack being input 0 (so for a ``Merge2`` the B input is pushed
last, on top of A); ``set VAR [stack 0]`` names the top of the stack and ``push $VAR``
(``push 0``: nothing, an unconnected input) puts a named node back on it. A ``Group``
block is followed by its children, on a stack of their own, and ``end_group``; the group
is then on the outer stack.

Knob values: words bare when they are safe, else in double quotes (``$``, ``[``, ``\\``
and ``"`` escaped, newlines as ``\\n``); arrays ``{1 1 1 1}``; an animated knob
``{{curve x1001 0.5 0.6}}`` (one ``x`` then a value per consecutive frame, a new ``x``
after a gap); in an array each element in its own braces (``{{curve ...} {curve ...}}``,
also two curves for an XY knob); expressions ``{{parent.mix}}``. User knobs are
``addUserKnob {type name label flags...}`` before their value.
"""

from __future__ import annotations

import re
from typing import Union

from .graph import Curve, Expr, Graph, Node, UserKnob, Value

#: the header's ``version``: the oldest Nuke the plugin supports (README, Nuke), so none of
#: them warns that the script comes from a newer release
NUKE_VERSION = "14.0 v1"
_BARE = re.compile(r"^[A-Za-z0-9_./#:@%+\-]+$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
#: knobs a node writes itself after its other knobs (so none are in ``Node.knobs``)
LAYOUT_KNOBS = ("xpos", "ypos")
_ROW, _COLUMN = 36, 110


def word(text: str) -> str:
    """One string knob value as Nuke reads it back as the same string."""
    if text and _BARE.match(text) and not _NUMBER.match(text) and text not in ("true", "false"):
        return text
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
               .replace("[", "\\[").replace("]", "\\]").replace("\n", "\\n"))
    return f'"{escaped}"'


def number(value: Union[int, float]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def curve_body(curve: Curve) -> str:
    """``curve x1001 v v x1005 v``: a new ``x`` only where frames are not consecutive."""
    parts, expected = ["curve"], None
    for frame, value in curve.keys:
        if frame != expected:
            parts.append(f"x{frame}")
        parts.append(number(value))
        expected = frame + 1
    return " ".join(parts)


def _element(value: Union[str, int, float, bool, Curve, Expr]) -> str:
    if isinstance(value, Curve):
        return "{" + curve_body(value) + "}"
    if isinstance(value, Expr):
        return "{" + value.text + "}"
    if isinstance(value, str):
        return word(value)
    return number(value)


def knob_value(value: Value) -> str:
    if isinstance(value, tuple):
        return "{" + " ".join(_element(v) for v in value) + "}"
    if isinstance(value, (Curve, Expr)):
        return "{" + _element(value) + "}"
    return _element(value)


def user_knob(knob: UserKnob) -> str:
    parts = [str(knob.type), knob.name]
    if knob.label:
        parts += ["l", word(knob.label)]
    parts += [f if _BARE.match(f) else word(f) for f in knob.flags]
    return "addUserKnob {" + " ".join(parts) + "}"


def _var(name: str) -> str:
    return "N" + re.sub(r"\W", "_", name)


def _plan(nodes: list[Node]) -> list[tuple[str, object]]:
    """Stack operations for one scope: ("push", name | None) and ("node", Node). A node's
    deepest input (its last) that is on top of the stack already is used in place."""
    ops: list[tuple[str, object]] = []
    stack: list[str | None] = []
    for node in nodes:
        pending = list(node.inputs)[::-1]  # deepest first, so input 0 ends on top
        if pending and pending[0] is not None and stack and stack[-1] == pending[0]:
            pending = pending[1:]
            stack.pop()
        ops += [("push", name) for name in pending]
        ops.append(("node", node))
        stack.append(node.name)
    return ops


def _scope(nodes: list[Node], indent: str, lines: list[str], column: int) -> None:
    ops = _plan(nodes)
    pushed = {name for kind, name in ops if kind == "push" and name is not None}
    row = 0
    for kind, item in ops:
        if kind == "push":
            lines.append(f"{indent}push {'$' + _var(str(item)) if item else '0'}")
            continue
        node = item
        assert isinstance(node, Node)
        lines.append(f"{indent}{node.cls} {{")
        inner = indent + " "
        if len(node.inputs) != 1:
            lines.append(f"{inner}inputs {len(node.inputs)}")
        user = {k.name for k in node.user_knobs}
        for name, value in node.knobs.items():
            if name not in user:
                lines.append(f"{inner}{name} {knob_value(value)}")
        lines.append(f"{inner}name {word(node.name)}")
        lines.append(f"{inner}xpos {column * _COLUMN}")
        lines.append(f"{inner}ypos {row * _ROW}")
        for knob in node.user_knobs:
            lines.append(f"{inner}{user_knob(knob)}")
            if knob.name in node.knobs:
                lines.append(f"{inner}{knob.name} {knob_value(node.knobs[knob.name])}")
        lines.append(f"{indent}}}")
        row += 1
        if node.cls == "Group":
            _scope(node.children, indent, lines, column + 1)
            lines.append(f"{indent}end_group")
        if node.name in pushed:
            lines.append(f"{indent}set {_var(node.name)} [stack 0]")


def to_nk(graph: Graph, root: dict[str, Value]) -> str:
    """The script: a header, ``Root`` with ``root``'s knobs, then the graph's nodes."""
    lines = ["#! nuke -nx", f"version {NUKE_VERSION}", "Root {", " inputs 0"]
    lines += [f" {name} {knob_value(value)}" for name, value in root.items()]
    lines.append("}")
    _scope(graph.nodes, "", lines, 0)
    return "\n".join(lines) + "\n"
