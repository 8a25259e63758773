"""The host adapter: the only module that imports ``nuke`` (tests/test_layout.py checks).

It turns a :class:`~nuke_plugin.core.graph.Graph` into live nodes (:func:`build`), and
carries the DigitalDouble group's buttons (:func:`submit_comp`, :func:`reload_double`). Everything
it builds is decided by the pure core; here are only Nuke calls, checked with mypy against
``types-nuke`` and run against a recording fake in tests/nuke.

Knobs are set in a fixed order: a Read's ``file`` first (Nuke resets a Read's frame range
and colourspace when its file changes), then the rest in the node's order. Animated values
(:class:`~nuke_plugin.core.graph.Curve`) become keys: ``setAnimated(index)`` then
``setValueAt(value, frame, index)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import cast

import nuke

from nuke_plugin.core.graph import Curve, Expr, Graph, Node, Scalar, UserKnob, Value

#: the DigitalDouble group's knobs the buttons read (see core/digital_double.py)
CONFIG_KNOB = "shot_config"
VERSION_KNOB = "version"
#: the core's DigitalDouble group as data, ``(shot config, version) -> Node`` (module,
#: function): looked up when a button runs, so the startup never imports the core's graph
CONTENT = ("nuke_plugin.core.digital_double", "group_for")
#: knobs set before the others, per class: setting them resets others
FIRST = {"Read": ("file",)}
#: knobs the Python API sets only from their script text (tables): set with the .nk
#: writer's own text for the value, so the live node and the .nk cannot differ
SCRIPTED = {("ModifyMetaData", "metadata")}


class HostError(Exception):
    """A graph Nuke cannot build: where, what was expected, what was found."""

    def __init__(self, where: str, expected: str, found: str) -> None:
        super().__init__(f"{where}: expected {expected}, found {found}")


#: ``addUserKnob`` type id -> the knob class that makes it (graph.USER_KNOB_TYPES's ids)
KNOB_CLASSES: dict[int, Callable[..., nuke.Knob]] = {
    20: nuke.Tab_Knob, 1: nuke.String_Knob, 2: nuke.File_Knob, 3: nuke.Int_Knob,
    6: nuke.Boolean_Knob, 7: nuke.Double_Knob, 22: nuke.PyScript_Knob, 26: nuke.Text_Knob,
}
#: ``+FLAG`` / ``-FLAG`` words of a user knob's definition -> Nuke's knob flag
FLAGS = {"STARTLINE": nuke.STARTLINE, "ENDLINE": nuke.ENDLINE, "DISABLED": nuke.DISABLED,
         "INVISIBLE": nuke.INVISIBLE}


def _user_knob(spec: UserKnob, where: str) -> nuke.Knob:
    """The knob ``addUserKnob {type name l label flags...}`` makes: ``R lo hi`` is a
    slider's range, ``T text`` a button's Python or a text knob's text, ``+FLAG`` /
    ``-FLAG`` Nuke's knob flags. Anything else is refused, not skipped: the .nk and the
    live node must not differ."""
    make = KNOB_CLASSES.get(spec.type)
    if make is None:
        raise HostError(where, f"a user knob type of {sorted(KNOB_CLASSES)}", str(spec.type))
    words = list(spec.flags)
    text, span, flags = None, None, []
    while words:
        word = words.pop(0)
        if word == "R" and len(words) >= 2:
            span = (float(words.pop(0)), float(words.pop(0)))
        elif word == "T" and words:
            text = words.pop(0)
        elif word[:1] in "+-" and word[1:] in FLAGS:
            flags.append((word[0], FLAGS[word[1:]]))
        else:
            raise HostError(where, "user knob flags R lo hi, T text, +FLAG or -FLAG "
                            f"({', '.join(FLAGS)})", repr(word))
    label = spec.label or spec.name
    knob = make(spec.name, label) if text is None else make(spec.name, label, text)
    if span is not None:
        if not isinstance(knob, nuke.Array_Knob):
            raise HostError(where, "a range on a number knob", f"type {spec.type}")
        knob.setRange(span[0], span[1])
    for sign, flag in flags:
        if sign == "+":
            knob.setFlag(flag)
        else:
            knob.clearFlag(flag)
    return knob


def _set(knob: nuke.Knob, value: Value, where: str) -> None:
    """A value, a tuple per channel, a Curve (keys) or an Expr (an expression). A bare
    value, Curve or Expr sets every channel (Nuke's index -1), as the .nk's one value does."""
    if isinstance(value, tuple):
        if not value:
            raise HostError(where, "a value", "an empty tuple")
        for index, channel in enumerate(value):
            _set_channel(knob, channel, index)
    else:
        _set_channel(knob, value, None)


def _set_channel(knob: nuke.Knob, value: Scalar | Curve | Expr, index: int | None) -> None:
    if isinstance(value, Curve):
        if index is None:
            knob.setAnimated()
        else:
            knob.setAnimated(index)
        for frame, v in value.keys:
            if index is None:
                knob.setValueAt(v, frame)
            else:
                knob.setValueAt(v, frame, index)
    elif isinstance(value, Expr):
        if index is None:
            knob.setExpression(value.text)
        else:
            knob.setExpression(value.text, index)
    elif index is None:
        knob.setValue(value)
    else:
        knob.setValue(value, index)


def _create(node: Node) -> nuke.Node:
    made: nuke.Node
    if node.cls == "Group":
        made = nuke.nodes.Group()
    else:
        made = getattr(nuke.nodes, node.cls)()
    made.setName(node.name)
    if made.name() != node.name:
        raise HostError(f"node {node.name}", "a free name", f"Nuke named it {made.name()}")
    for spec in node.user_knobs:
        where = f"{node.name}.{spec.name}"
        if made.knob(spec.name) is not None:
            raise HostError(where, "a user knob name the class lacks", f"a {node.cls} knob")
        made.addKnob(_user_knob(spec, where))
    first = FIRST.get(node.cls, ())
    ordered = [k for k in first if k in node.knobs] + [k for k in node.knobs if k not in first]
    for name in ordered:
        knob = made.knob(name)
        if knob is None:
            raise HostError(f"{node.name}.{name}", f"a knob of {node.cls} or a declared user "
                            "knob", "neither")
        if (node.cls, name) in SCRIPTED:
            from nuke_plugin.core import nk

            knob.fromScript(nk.knob_value(node.knobs[name]))
        else:
            _set(knob, node.knobs[name], f"{node.name}.{name}")
    return made


def _build_level(nodes: list[Node], prefix: str, made: dict[str, nuke.Node]) -> None:
    here: dict[str, nuke.Node] = {}
    for node in nodes:
        created = _create(node)
        here[node.name] = created
        made[prefix + node.name] = created
        if node.children:
            if not isinstance(created, nuke.Group):
                raise HostError(f"node {node.name}", "a Group to hold children", node.cls)
            with created:
                _build_level(node.children, f"{prefix}{node.name}.", made)
    for node in nodes:
        for index, source in enumerate(node.inputs):
            if source is None:
                continue
            if source not in here:
                raise HostError(f"{node.name} input {index}", "a node built at its level",
                                repr(source))
            here[node.name].setInput(index, here[source])


def build(graph: Graph, parent: nuke.Group | None = None) -> dict[str, nuke.Node]:
    """Create ``graph``'s nodes inside ``parent`` (the script's root when None).

    Returns:
        name -> node; a Group's children as ``"Group.child"`` (Nuke's ``fullName``).
    """
    made: dict[str, nuke.Node] = {}
    with parent if parent is not None else nuke.root():
        _build_level(graph.nodes, "", made)
    return made


def set_root(knobs: dict[str, Value]) -> None:
    """The script's Root knobs (frame range, fps, OCIO config), as the .nk's ``Root`` sets."""
    root = nuke.root()
    for name, value in knobs.items():
        knob = root.knob(name)
        if knob is None:
            raise HostError(f"Root.{name}", "a Root knob", "none")
        _set(knob, value, f"Root.{name}")


def report(text: str) -> None:
    """A message box in the GUI, the terminal otherwise (``nuke -t`` / ``-x``)."""
    if nuke.GUI:
        nuke.message(text)
    else:
        nuke.tprint(text)


def _knob_text(group: nuke.Node, name: str) -> str:
    knob = group.knob(name)
    if knob is None:
        raise HostError(f"{group.name()}.{name}", "a DigitalDouble group's knob", "no such knob")
    return str(knob.value())


def submit_comp(group: nuke.Node) -> int:
    """Submit the shot's farm job up to comp, for the shot config on ``group``.

    This is the pipeline's whole job up to comp (track, train, render, comp: stages already
    done are skipped), not a comp of this Nuke script: ``pipeline.runs.start(config,
    until="comp")`` with the shot's own farm backend. Farm backends return once the job
    is submitted; the ``local`` backend runs the job in this Nuke session until it ends.
    The pipeline (vfx_double and its dependencies) must be importable in Nuke's Python.

    Returns:
        the submission's exit status (0: submitted or nothing left to do).
    """
    config = Path(_knob_text(group, CONFIG_KNOB))
    try:
        from pipeline import runs
        from vfx_double.errors import VfxDoubleError
    except ImportError as err:
        report(f"Submit comp: the pipeline is not importable in Nuke's Python ({err}); "
               f"run `vfx-double run {config} --until comp` instead")
        return 1
    try:
        status = runs.start(config, backend=None, until="comp", submit=True, wait=False,
                            echo=nuke.tprint)
    except VfxDoubleError as err:
        report(f"Submit comp: {err}")
        return err.exit_code
    report(f"Submit comp: {config} up to comp: "
           + ("submitted" if status == 0 else f"failed (status {status}), see the terminal"))
    return status


def _content() -> Callable[[Path, str], Node]:
    module = importlib.import_module(CONTENT[0])
    return cast(Callable[[Path, str], Node], getattr(module, CONTENT[1]))


def create_digital_double() -> dict[str, nuke.Node]:
    """Nodes > vfx_double > DigitalDouble: asks for the shot config and builds the group
    for its latest version (``""``). Returns nothing built when the dialog is cancelled."""
    config = nuke.getFilename("DigitalDouble: shot config", "*.yaml *.yml")
    if not config:
        return {}
    try:
        node = _content()(Path(config), "")
        base, number = node.name.rstrip("0123456789"), 1
        while nuke.toNode(node.name) is not None:  # a second double in the script
            number += 1
            node.name = f"{base}{number}"
        return build(Graph([node]))
    except Exception as err:  # shown to the artist, never raised into Nuke's menu
        report(f"DigitalDouble: {err}")
        return {}


def reload_double(group: nuke.Node,
                  content: Callable[[Path, str], Node] | None = None) -> dict[str, nuke.Node]:
    """Rebuild ``group``'s nodes for its shot config and version knobs (the Reload button).

    ``content(config, version)`` is the core's DigitalDouble group as data (default: the
    core's, :data:`CONTENT`); its children replace the group's, and its knob values other
    than the shot config and version are set again. Returns the new children by
    ``"Group.child"`` name.
    """
    if not isinstance(group, nuke.Group):
        raise HostError(group.name(), "a DigitalDouble Group", group.Class())
    node = (content or _content())(Path(_knob_text(group, CONFIG_KNOB)),
                                   _knob_text(group, VERSION_KNOB))
    for child in group.nodes():
        nuke.delete(child)
    made: dict[str, nuke.Node] = {}
    with group:
        _build_level(node.children, f"{group.name()}.", made)
    for name, value in node.knobs.items():
        if name in (CONFIG_KNOB, VERSION_KNOB):
            continue
        knob = group.knob(name)
        if knob is None:
            raise HostError(f"{group.name()}.{name}", "a knob the group has", "none")
        _set(knob, value, f"{group.name()}.{name}")
    return made
