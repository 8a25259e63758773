"""A recording fake of Nuke's ``nuke`` module, for the host adapter's tests (no Nuke here).

Strict where Nuke is: a node class outside :data:`CLASSES` raises ``NameError`` (Nuke: no
such node class), ``node[name]`` of a knob the class lacks raises ``NameError`` and
``node.knob(name)`` returns None, as in Nuke; a user knob is known once ``addKnob`` added
it. Everything the adapter does is recorded on the objects (knob values per channel,
animation keys, expressions, inputs, user knobs, children), so a test can read the graph
back (tests/nuke/test_host.py) and compare it with what the adapter was given.

Only this folder is put on ``sys.path``, by the tests' fixture, and taken off after.

Knob allow-lists: the "Knob (Scripting)" column of Foundry's reference page for each class
(URLs below). Pages marked "seen" were read through the search index for this file; the
others are at the same guide's address for that node and their lists were written from
Nuke's knob names without opening the page here. A test marked ``nuke`` (run with
NUKE_EXECUTABLE set) checks every list against a real Nuke's ``node.knobs()``.
"""

from __future__ import annotations

from typing import Any, Callable

GUI = False
STARTLINE, ENDLINE, DISABLED, INVISIBLE = 0x1000, 0x2000, 0x80, 0x400

REF = "https://learn.foundry.com/nuke/content/reference_guide/"

#: the Node tab every node has (Foundry: "Node tab" section of each reference page)
COMMON = frozenset({
    "name", "label", "note_font", "note_font_size", "note_font_color", "selected", "xpos",
    "ypos", "tile_color", "gl_color", "hide_input", "cached", "disable", "dope_sheet",
    "postage_stamp", "postage_stamp_frame", "lifetimeStart", "lifetimeEnd", "useLifetime",
    "bookmark", "icon", "indicators", "help", "onCreate", "onDestroy", "knobChanged",
    "updateUI", "autolabel", "panel",
})
#: masked nodes' common knobs (the mask / mix row of a filter or colour node's tab)
MASKED = frozenset({"maskChannelMask", "maskChannelInput", "inject", "invert_mask", "fringe",
                    "mix", "mix_luminance", "process_mask", "unpremult", "invert_unpremult"})

#: class -> (reference page, knobs besides COMMON)
CLASSES: dict[str, tuple[str, frozenset[str]]] = {
    # seen: https://learn.foundry.com/nuke/Content/reference_guide/image_nodes/write.html
    # (Write's page); Read's page is its sibling
    "Read": (REF + "image_nodes/read.html", frozenset({
        "file", "proxy", "format", "proxy_format", "first", "last", "before", "after",
        "frame_mode", "frame", "origfirst", "origlast", "on_error", "reload", "colorspace",
        "raw", "premultiplied", "auto_alpha", "origset", "file_type", "localizationPolicy",
        "noprefix", "version", "edge_pixels", "ocioColorspace"})),
    "Write": ("https://learn.foundry.com/nuke/Content/reference_guide/image_nodes/write.html",
              frozenset({
        "channels", "file", "proxy", "frame_mode", "frame", "colorspace", "raw",
        "premultiplied", "views", "file_type", "datatype", "compression", "heroview",
        "metadata", "noprefix", "interleave", "first_part", "autocrop", "write_full_layer",
        "standard_layer_name_format", "render_order", "use_limit", "first", "last",
        "reading", "checkHashOnRead", "on_error", "create_directories", "beforeRender",
        "beforeFrameRender", "afterFrameRender", "afterRender", "renderProgress",
        "version", "dw_compression_level", "truncateChannelNames", "ocioColorspace"})),
    "Group": (REF + "other_nodes/group.html", frozenset()),
    "Input": (REF + "other_nodes/input.html", frozenset({"number"})),
    "Output": (REF + "other_nodes/output.html", frozenset()),
    "Dot": (REF + "other_nodes/dot.html", frozenset()),
    "NoOp": (REF + "other_nodes/noop.html", frozenset()),
    # seen via Nuke Stage's Grade page (same knobs as Nuke's, its note says); Nuke's own:
    "Grade": (REF + "color_nodes/grade.html", MASKED | frozenset({
        "channels", "blackpoint", "whitepoint", "black", "white", "multiply", "add",
        "gamma", "reverse", "black_clamp", "white_clamp"})),
    "Unpremult": (REF + "merge_nodes/unpremult.html", frozenset({
        "channels", "alpha", "invert"})),
    "Premult": (REF + "merge_nodes/premult.html", frozenset({"channels", "alpha", "invert"})),
    "Expression": (REF + "color_nodes/expression.html", MASKED | frozenset(
        {f"temp_name{i}" for i in range(4)} | {f"temp_expr{i}" for i in range(4)}
        | {f"channel{i}" for i in range(4)} | {f"expr{i}" for i in range(4)})),
    "Keymix": (REF + "merge_nodes/keymix.html", frozenset({
        "channels", "maskChannel", "invertMask", "mix", "bbox", "metainput"})),
    "ColorLookup": (REF + "color_nodes/colorlookup.html", MASKED | frozenset({
        "channels", "lut", "range", "source", "target", "setRGB", "setRGBA", "setA"})),
    "OCIOColorSpace": (REF + "color_nodes/ociocolorspace.html", MASKED | frozenset({
        "channels", "in_colorspace", "out_colorspace", "key1", "value1", "key2", "value2",
        "key3", "value3", "key4", "value4"})),
    # seen: the FilterErode tab's knobs as listed on the page
    "FilterErode": (REF + "filter_nodes/erode_filter.html", MASKED | frozenset({
        "channels", "size", "filter"})),
    "Blur": (REF + "filter_nodes/blur.html", MASKED | frozenset({
        "channels", "size", "filter", "quality", "crop"})),
    # seen: https://learn.foundry.com/nuke/15.1/content/reference_guide/merge_nodes/merge.html
    "Merge2": ("https://learn.foundry.com/nuke/15.1/content/reference_guide/merge_nodes/"
               "merge.html", MASKED | frozenset({
        "operation", "bbox", "metainput", "rangeinput", "Achannels", "Bchannels", "output",
        "also_merge", "sRGB", "screen_alpha"})),
    "Copy": (REF + "channel_nodes/copy.html", MASKED | frozenset({
        "from0", "to0", "from1", "to1", "from2", "to2", "from3", "to3", "channels",
        "bbox", "metainput"})),
    "Shuffle2": (REF + "channel_nodes/shuffle.html", MASKED | frozenset({
        "fromInput1", "in1", "fromInput2", "in2", "out1", "out2", "mappings"})),
    "Crop": (REF + "transform_nodes/crop.html", frozenset({
        "box", "softness", "reformat", "intersect", "crop"})),
    "Transform": (REF + "transform_nodes/transform.html", MASKED | frozenset({
        "translate", "rotate", "scale", "skewX", "skewY", "skew_order", "center",
        "invert_matrix", "filter", "clamp", "black_outside", "motionblur", "shutter",
        "shutteroffset", "shuttercustomoffset", "xform_order", "rot_order"})),
    "Reformat": (REF + "transform_nodes/reformat.html", frozenset({
        "type", "format", "scale", "box_width", "box_height", "box_fixed",
        "box_pixel_aspect", "resize", "center", "flip", "flop", "turn", "filter", "clamp",
        "black_outside", "pbb"})),
    "Grain2": (REF + "draw_nodes/grain.html", MASKED | frozenset({
        "channels", "seed", "red_size", "green_size", "blue_size", "red_i", "green_i",
        "blue_i", "red_m", "green_m", "blue_m", "black", "minimum", "presets"})),
    "Switch": (REF + "other_nodes/switch.html", frozenset({"which"})),
    "ModifyMetaData": (REF + "metadata_nodes/modifymetadata.html", frozenset({"metadata"})),
    # seen: https://learn.foundry.com/nuke/content/reference_guide/air_nodes/inference.html
    # (controls Use GPU if available, Model File, Optimize for Speed and Memory)
    "Inference": (REF + "air_nodes/inference.html", MASKED | frozenset({
        "modelFile", "useGPUIfAvailable", "halfPrecision", "gpuName", "channels"})),
    # seen: https://learn.foundry.com/nuke/developers/15.0/catfilecreationreferenceguide/
    # introduction.html (the CatFileCreator settings: TorchScript file, .cat file, channels
    # in / out, model id, output scale)
    "CatFileCreator": (REF + "air_nodes/catfilecreator.html", frozenset({
        "torchScriptFile", "catFile", "channelsIn", "channelsOut", "modelId",
        "outputScale", "createCatFile"})),
}

printed: list[str] = []
messages: list[str] = []
plugin_paths: list[str] = []
menus: dict[str, list[tuple[str, Any]]] = {}
#: what getFilename answers (None: the artist cancelled)
filename_answer: str | None = None


class Knob:
    def __init__(self, name: str, label: str = "", text: Any = None) -> None:
        self._name = name
        self._label = label or name
        self.text = text
        self.values: dict[int, Any] = {}        # channel (-1: all) -> value
        self.keys: dict[int, dict[float, Any]] = {}  # animated channel -> frame -> value
        self.expressions: dict[int, str] = {}
        self.range: tuple[float, float] | None = None
        self.flags: set[int] = set()
        self.script: str | None = None  # what fromScript was given

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def setValue(self, value: Any, chan: int = -1) -> bool:
        self.values[chan] = value
        return True

    def value(self, index: int = 0) -> Any:
        if index in self.values:
            return self.values[index]
        return self.values.get(-1, self.text if self.text is not None else "")

    def setAnimated(self, channel: int = -1) -> bool:
        self.keys.setdefault(channel, {})
        return True

    def isAnimated(self, channel: int = -1) -> bool:
        return channel in self.keys

    def setValueAt(self, value: Any, time: float, index: int = -1) -> bool:
        if index not in self.keys:
            raise RuntimeError(f"{self._name}: channel {index} is not animated")
        self.keys[index][time] = value
        return True

    def setExpression(self, expression: str, index: int = -1) -> bool:
        self.expressions[index] = expression
        return True

    def fromScript(self, script: str) -> None:
        self.script = script

    def setRange(self, low: float, high: float) -> None:
        self.range = (low, high)

    def setFlag(self, flag: int) -> None:
        self.flags.add(flag)

    def clearFlag(self, flag: int) -> None:
        self.flags.discard(flag)

    def Class(self) -> str:
        return type(self).__name__


class Array_Knob(Knob):
    pass


class Tab_Knob(Knob):
    pass


class Text_Knob(Knob):
    pass


class String_Knob(Knob):
    pass


class File_Knob(String_Knob):
    pass


class Int_Knob(Array_Knob):
    pass


class Double_Knob(Array_Knob):
    pass


class Boolean_Knob(Array_Knob):
    pass


class PyScript_Knob(Knob):
    pass


class Node:
    def __init__(self, cls: str, parent: Group | None) -> None:
        if cls not in CLASSES:
            raise NameError(f"{cls}: unknown node class (the fake knows {sorted(CLASSES)})")
        self.cls = cls
        self.parent_group = parent
        self.native = CLASSES[cls][1] | COMMON
        self.knob_objects: dict[str, Knob] = {}
        self.user: list[Knob] = []
        self.inputs_set: dict[int, Node | None] = {}
        self._name = f"{cls}{sum(n.cls == cls for n in parent.children) + 1 if parent else 1}"
        if parent is not None:
            parent.children.append(self)

    def Class(self) -> str:
        return self.cls

    def name(self) -> str:
        return self._name

    def fullName(self) -> str:
        up = self.parent_group
        return self._name if up is None or up is _root else f"{up.fullName()}.{self._name}"

    def setName(self, name: str, uncollide: bool = False, updateExpressions: bool = False) -> None:
        siblings = self.parent_group.children if self.parent_group else []
        if any(n is not self and n._name == name for n in siblings):
            raise ValueError(f"{name}: a node of that name exists in {self.parent_group}")
        self._name = name

    def knob(self, name: str) -> Knob | None:
        if name in self.knob_objects:
            return self.knob_objects[name]
        if name in self.native:
            self.knob_objects[name] = Knob(name)
            return self.knob_objects[name]
        return None

    def __getitem__(self, name: str) -> Knob:
        found = self.knob(name)
        if found is None:
            raise NameError(f"knob {name} does not exist in {self.cls} {self._name}")
        return found

    def addKnob(self, knob: Knob) -> None:
        if knob.name() in self.knob_objects or knob.name() in self.native:
            raise ValueError(f"{self._name}: knob {knob.name()} exists already")
        self.knob_objects[knob.name()] = knob
        self.user.append(knob)

    def setInput(self, i: int, node: Node | None) -> bool:
        if i < 0:
            raise ValueError(f"{self._name}: input {i}")
        if node is not None and node.parent_group is not self.parent_group:
            raise ValueError(f"{self._name}: input {i} {node._name} is in another group")
        self.inputs_set[i] = node
        return True

    def input(self, i: int) -> Node | None:
        return self.inputs_set.get(i)

    def __repr__(self) -> str:
        return f"<{self.cls} {self._name}>"


class Group(Node):
    def __init__(self, cls: str = "Group", parent: Group | None = None) -> None:
        super().__init__(cls, parent)
        self.children: list[Node] = []

    def begin(self) -> Group:
        _context.append(self)
        return self

    def end(self) -> None:
        if _context[-1] is not self:
            raise RuntimeError(f"{self._name}.end() without its begin()")
        _context.pop()

    def __enter__(self) -> Group:
        return self.begin()

    def __exit__(self, *exc: object) -> None:
        self.end()

    def nodes(self) -> list[Node]:
        return list(self.children)

    def node(self, name: str) -> Node | None:
        return next((n for n in self.children if n._name == name), None)


#: seen: https://learn.foundry.com/nuke/content/reference_guide/other_nodes/root.html
#: (its Root tab, read through the search index); the Color tab's OCIO knobs further down
#: that page were not in what the index showed and are written from Nuke's knob names
ROOT_KNOBS = frozenset({
    "name", "project_directory", "label", "lock_connections", "first_frame", "last_frame",
    "lock_range", "fps", "format", "proxy", "proxy_type", "proxy_format", "proxy_scale",
    "views", "colorManagement", "OCIO_config", "customOCIOConfigPath", "workingSpaceLUT",
    "monitorLut", "int8Lut", "int16Lut", "logLut", "floatLut", "defaultViewerLUT"})


class Root(Group):
    def __init__(self) -> None:
        self.cls = "Root"
        self.parent_group = None
        self.native = ROOT_KNOBS
        self.knob_objects = {}
        self.user = []
        self.inputs_set = {}
        self._name = "root"
        self.children = []


_root = Root()
_context: list[Group] = [_root]


def reset() -> None:
    """A new script: empty root, nothing printed, no menus."""
    global _root, filename_answer
    _root = Root()
    _context[:] = [_root]
    for log in (printed, messages, plugin_paths):
        log.clear()
    menus.clear()
    filename_answer = None


def root() -> Root:
    return _root


def _make(cls: str) -> Node:
    parent = _context[-1]
    return Group(cls, parent) if cls == "Group" else Node(cls, parent)


class _Nodes:
    def __getattr__(self, cls: str) -> Callable[..., Node]:
        def construct(**knobs: Any) -> Node:
            made = _make(cls)
            for name, value in knobs.items():
                made[name].setValue(value)
            return made
        return construct


nodes = _Nodes()


def createNode(typ: str, knobs: str = "", inpanel: bool = True) -> Node:
    return _make(typ)


def delete(node: Node) -> None:
    if node.parent_group is not None:
        node.parent_group.children.remove(node)


def toNode(name: str) -> Node | None:
    return _context[-1].node(name)


def tprint(*args: Any, sep: str = " ", end: str = "\n", file: Any = None) -> None:
    printed.append(sep.join(str(a) for a in args))


def message(prompt: str) -> None:
    if not GUI:
        raise RuntimeError("nuke.message without a GUI")
    messages.append(prompt)


def getFilename(message: str, pattern: str = "", default: str = "", favorites: str = "",
                type: str = "", multiple: bool = False) -> str | None:
    return filename_answer


def pluginPath() -> list[str]:
    return list(plugin_paths)


def pluginAddPath(path: str, addToSysPath: bool = True) -> None:
    plugin_paths.insert(0, path)


class _Menu:
    def __init__(self, path: str) -> None:
        self.path = path

    def addMenu(self, name: str, **kwargs: Any) -> _Menu:
        return _Menu(f"{self.path}/{name}")

    def addCommand(self, name: str, command: Any = None, *args: Any, **kwargs: Any) -> None:
        menus.setdefault(self.path, []).append((name, command))


def toolbar(name: str, create: bool = True) -> _Menu | None:
    if not GUI:
        return None  # no toolbars without the GUI, as in nuke -t
    return _Menu(name)


def menu(name: str) -> _Menu:
    return _Menu(name)
