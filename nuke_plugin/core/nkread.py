""".nk text -> Graph, checking Nuke's stack rules (see :mod:`.nk`): the tests read every
written script back with it, so a script whose stack Nuke would wire differently from the
graph, or whose values would not read back as written, fails there.

Understands what :mod:`.nk` writes and the commands real scripts start with: ``#``
comments, ``version``, ``Root``, node blocks, ``set VAR [stack 0]``, ``push $VAR`` /
``push 0``, ``end_group``. Anything else is an :class:`NkSyntaxError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

from .graph import Curve, Expr, Graph, Node, UserKnob, Value
from .nk import LAYOUT_KNOBS

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_INT = re.compile(r"^[-+]?\d+$")


class NkSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "quoted", "braced", "bracket", "newline"
    text: str
    line: int


def tokens(text: str) -> list[Token]:
    out: list[Token] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            out.append(Token("newline", "", line))
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#" and (not out or out[-1].kind == "newline"):
            while i < n and text[i] != "\n":
                i += 1
        elif c == "{":
            depth, j, start_line = 0, i, line
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                elif text[j] == "\n":
                    line += 1
                j += 1
            if j >= n:
                raise NkSyntaxError(f"line {start_line}: a brace that is never closed")
            out.append(Token("braced", text[i + 1:j], start_line))
            i = j + 1
        elif c == '"':
            j, chars = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    chars.append("\n" if nxt == "n" else nxt)
                    j += 2
                    continue
                chars.append(text[j])
                j += 1
            if j >= n:
                raise NkSyntaxError(f"line {line}: a quote that is never closed")
            out.append(Token("quoted", "".join(chars), line))
            i = j + 1
        elif c == "[":
            j = text.index("]", i)
            out.append(Token("bracket", text[i + 1:j].strip(), line))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " \t\r\n{}\"[":
                j += 1
            out.append(Token("word", text[i:j], line))
            i = j
    return out


def _commands(toks: list[Token]) -> list[list[Token]]:
    commands: list[list[Token]] = []
    current: list[Token] = []
    for tok in toks:
        if tok.kind == "newline":
            if current:
                commands.append(current)
            current = []
        else:
            current.append(tok)
    if current:
        commands.append(current)
    return commands


def scalar(text: str) -> Union[str, int, float, bool]:
    if text in ("true", "false"):
        return text == "true"
    if _INT.match(text):
        return int(text)
    if _NUMBER.match(text):
        return float(text)
    return text


def parse_curve(body: str, where: str) -> Curve:
    parts = body.split()
    if not parts or parts[0] != "curve":
        raise NkSyntaxError(f"{where}: expected 'curve ...', found {body[:40]!r}")
    keys, frame = [], None
    for part in parts[1:]:
        if part.startswith("x"):
            frame = int(float(part[1:]))
        elif _NUMBER.match(part):
            if frame is None:
                raise NkSyntaxError(f"{where}: a curve value before any x<frame>")
            keys.append((frame, float(part)))
            frame += 1
        else:
            raise NkSyntaxError(f"{where}: expected x<frame> or a number in a curve, "
                                f"found {part!r}")
    if not keys:
        raise NkSyntaxError(f"{where}: an empty curve")
    return Curve(tuple(keys))


def _braced(body: str, where: str) -> Union[Curve, Expr]:
    """``curve`` with frame keys only is an animation (:class:`Curve`); one with
    interpolation flags or keys off the frames (a ColorLookup's) stays text."""
    if body.startswith("curve") and re.fullmatch(r"curve( x-?\d+| \S+)*", body) and all(
            p.startswith("x") and _INT.match(p[1:]) or _NUMBER.match(p)
            for p in body.split()[1:]):
        return parse_curve(body, where)
    return Expr(body)


def _element(tok: Token, where: str) -> Union[str, int, float, bool, Curve, Expr]:
    if tok.kind == "quoted":
        return tok.text
    if tok.kind == "word":
        return scalar(tok.text)
    if tok.kind == "braced":
        return _braced(tok.text.strip(), where)
    raise NkSyntaxError(f"{where}: unexpected {tok.kind} {tok.text!r}")


def knob_value(tok: Token, where: str) -> Value:
    if tok.kind != "braced":
        return _element(tok, where)
    inner = [t for t in tokens(tok.text) if t.kind != "newline"]
    if len(inner) == 1 and inner[0].kind == "braced":
        return _braced(inner[0].text.strip(), where)
    return tuple(_element(t, where) for t in inner)


def _user_knob(text: str, where: str) -> UserKnob:
    parts = [t for t in tokens(text) if t.kind != "newline"]
    if len(parts) < 2 or not _INT.match(parts[0].text):
        raise NkSyntaxError(f"{where}: addUserKnob needs {{type name ...}}, found {text!r}")
    rest = [p.text for p in parts[2:]]
    label = ""
    if len(rest) >= 2 and rest[0] == "l":
        label, rest = rest[1], rest[2:]
    return UserKnob(int(parts[0].text), parts[1].text, label, tuple(rest))


def parse_node(cls: str, body: str, line: int) -> tuple[Node, int]:
    """A node block's body -> (Node with no inputs yet, its input count)."""
    where = f"line {line} ({cls})"
    toks = [t for t in tokens(body) if t.kind != "newline"]
    if len(toks) % 2:
        raise NkSyntaxError(f"{where}: knobs come in name-value pairs")
    node = Node(cls, "")
    count = 1
    for name_tok, value_tok in zip(toks[::2], toks[1::2]):
        name = name_tok.text
        if name == "inputs":
            count = int(value_tok.text)
        elif name == "name":
            node.name = value_tok.text
        elif name == "addUserKnob":
            node.user_knobs.append(_user_knob(value_tok.text, where))
        elif name in LAYOUT_KNOBS or name == "selected":
            continue
        else:
            if name in node.knobs:
                raise NkSyntaxError(f"{where}: knob {name!r} set twice")
            node.knobs[name] = knob_value(value_tok, f"{where} knob {name}")
    if not node.name:
        raise NkSyntaxError(f"{where}: a node without a name")
    return node, count


@dataclass
class Script:
    version: str = ""
    root: dict[str, Value] = field(default_factory=dict)
    graph: Graph = field(default_factory=Graph)


def read_nk(text: str) -> Script:
    """Parse a script; raise :class:`NkSyntaxError` naming the line on a broken stack or
    syntax (a node popping more than the stack holds, an unknown variable, an
    ``end_group`` outside a group, a group never closed)."""
    script = Script()
    scopes: list[tuple[list[Node], list[Node | None]]] = [(script.graph.nodes, [])]
    groups: list[Node] = []
    variables: dict[str, Node | None] = {}
    commands = _commands(tokens(text))
    for cmd in commands:
        head, line = cmd[0].text, cmd[0].line
        nodes, stack = scopes[-1]
        if head == "version":
            script.version = " ".join(t.text for t in cmd[1:])
        elif head == "set":
            if len(cmd) != 3 or cmd[2].kind != "bracket" or cmd[2].text != "stack 0":
                raise NkSyntaxError(f"line {line}: expected 'set VAR [stack 0]'")
            if not stack:
                raise NkSyntaxError(f"line {line}: set on an empty stack")
            variables[cmd[1].text] = stack[-1]
        elif head == "push":
            ref = cmd[1].text if len(cmd) == 2 else ""
            if ref == "0":
                stack.append(None)
            elif ref.startswith("$") and ref[1:] in variables:
                stack.append(variables[ref[1:]])
            else:
                raise NkSyntaxError(f"line {line}: push of an unknown variable {ref!r}")
        elif head == "end_group":
            if not groups:
                raise NkSyntaxError(f"line {line}: end_group outside a group")
            group = groups.pop()
            scopes.pop()
            scopes[-1][1].append(group)
        elif len(cmd) == 2 and cmd[0].kind == "word" and cmd[1].kind == "braced":
            if head == "Root":
                script.root = parse_node("Root", cmd[1].text + "\nname Root", line)[0].knobs
                continue
            node, count = parse_node(head, cmd[1].text, line)
            if count > len(stack):
                raise NkSyntaxError(f"line {line} ({node.name}): takes {count} inputs, the "
                                    f"stack holds {len(stack)}")
            popped = [stack.pop() for _ in range(count)]  # top first: input 0
            node.inputs = [None if n is None else n.name for n in popped]
            known = {n.name for n in nodes}
            bad = [n for n in node.inputs if n is not None and n not in known]
            if bad:
                raise NkSyntaxError(f"line {line} ({node.name}): inputs {bad} are not in "
                                    "this group")
            nodes.append(node)
            if head == "Group":
                groups.append(node)
                scopes.append((node.children, []))
            else:
                stack.append(node)
        else:
            raise NkSyntaxError(f"line {line}: unknown command {head!r}")
    if groups:
        raise NkSyntaxError(f"group {groups[-1].name} has no end_group")
    return script
