"""The DigitalDouble node as data: a Group of native Nuke nodes that puts a render
version's face elements on the plate the way the farm comp does, animated from the comp's
CompMatch.1 records (:mod:`vfx_double.comp.record`), and the whole shot script around it.

Inside the group (working space ACEScg, scene-linear, premultiplied)::

    Input1 (plate, its own colourspace) -> PlateToWorking (OCIOColorSpace) ------------ B
    ReadFace (face.####.exr, colorspace ACEScg) -> Unpremult -> ToLog -> MatchGrade      |
       -> FromLog (colour match, per-frame curves, off with the knob)  --------- B       |
    ReadFace -> MatteToAlpha (Copy matte.alpha -> alpha) -> Erode -> Feather --- A       |
                                    CoverTimesMatte (Merge2 multiply, alpha) -> Grain    |
                                    -> Premult ----------------------------------------- A
                                                              Over (Merge2, mix) -> ToPlate
    Keymix: B = the plate as it came in, A = ToPlate, mask = Changed (matte > 0)
    -> Output1

The element's matte is the EXR channel ``matte.A`` (FaceElement.2), which Nuke's EXR
reader names ``matte.alpha`` (``ExrChannelNameToNuke`` in Foundry's NDK examples: all but
the last dot-separated part is the layer, ``A`` becomes ``alpha``). Version 1 elements
called it ``matte``, with no layer: re-render them for the node.
The Keymix keeps every pixel where the matte is 0 as the plate's stored value (the OCIO
round trip plate -> ACEScg -> plate is not exact), as the farm comp does.

Not in the group: the comp's detail recovery (:mod:`vfx_double.comp.detail`), a
frequency separation gated per pixel by where face and plate agree at the model's
resolution, which no short chain of native nodes reproduces; compare with the farm comp
at ``comp.detail: off``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .graph import USER_KNOB_TYPES as T
from .graph import Curve, Expr, Graph, Node, UserKnob, Value

SUBMIT_SCRIPT = "import nuke_plugin.host as h; h.submit_comp(nuke.thisNode())"
RELOAD_SCRIPT = "import nuke_plugin.host as h; h.reload_double(nuke.thisNode())"
LOG_SPACE = "ACEScct"
#: the element's matte channel (EXR ``matte.A``) as Nuke names it
MATTE = "matte.alpha"


@dataclass(frozen=True)
class DoubleInputs:
    """What the node needs: the shot, the render version and the comp's numbers."""

    config: str
    render: str
    elements: str  # the render version's face.####.exr
    frames: tuple[int, int]
    plate_colourspace: str
    working: str
    output: str
    licence_id: str
    model_hash: str
    mix: float
    erode: float
    feather: float
    colour_match: str
    grain: bool
    records: dict[int, dict[str, Any]] = field(default_factory=dict)


def from_comp(config: str | Path, comp_dir: Path) -> DoubleInputs:
    """The inputs of a comp version: its options, its render's options, its records."""
    from vfx_double.comp.record import read_comp_match
    from vfx_double.errors import WorkAreaError
    from vfx_double.records import read_json

    comp_dir = Path(comp_dir)
    options = read_json(comp_dir / "options.json", "options", WorkAreaError)
    render_dir = comp_dir.parent.parent / "render" / options["render"]
    render = read_json(render_dir / "options.json", "options", WorkAreaError)
    frames = sorted(int(p.name.split(".")[1]) for p in comp_dir.glob("match.*.json"))
    if not frames:
        raise WorkAreaError(str(comp_dir), "CompMatch records (match.####.json)", "none",
                            "run `vfx-double comp SHOT.yaml` (versions before CompMatch.1 "
                            "have none)")
    padding = len(next(comp_dir.glob("match.*.json")).name.split(".")[1])
    look = options["comp"]
    return DoubleInputs(
        config=str(config), render=options["render"],
        elements=str(render_dir / f"face.{'#' * padding}.exr"), frames=(frames[0], frames[-1]),
        plate_colourspace=options["plate_colourspace"], working=options["working"],
        output=options["output"], licence_id=options["licence_id"],
        model_hash=render["weights_sha256"], mix=float(look["mix"]),
        erode=float(look["erode"]), feather=float(look["feather"]),
        colour_match=look["colour_match"], grain=bool(look["grain"]),
        records=read_comp_match(comp_dir, frames, padding))


def comp_for(config: str | Path, render: str = "") -> Path:
    """The latest comp version of the shot made from render version ``render`` (``""``:
    from any) that has CompMatch records."""
    from vfx_double import config as shot_config
    from vfx_double.errors import WorkAreaError
    from vfx_double.records import read_json
    from vfx_double.workarea import WorkArea

    cfg = shot_config.load(config)
    area = WorkArea(cfg.shot_dir)
    for number in sorted(area.versions("comp"), reverse=True):
        folder = area.version_dir("comp", number)
        options = read_json(folder / "options.json", "options", WorkAreaError)
        if (not render or options.get("render") == render) and any(folder.glob("match.*.json")):
            return folder
    raise WorkAreaError(str(area.stage_dir("comp")),
                        f"a comp version of render {render or '(any)'} with CompMatch records",
                        "none", f"run `vfx-double comp {config}`")


def group_for(config: Path, version: str) -> Node:
    """The host adapter's entry point (Reload, Nodes menu): the group for the shot's
    render ``version`` (``""``: the latest comped one)."""
    return digital_double(from_comp(config, comp_for(config, version)))


def _match_curves(inputs: DoubleInputs, key: str, rest: float) -> tuple[Curve, ...]:
    """Per channel, the records' ``key`` numbers as curves; ``rest`` on frames whose
    record has no match (``method: none``), so the Grade leaves them as they are."""
    values: list[dict[int, float]] = [{}, {}, {}]
    for frame, rec in sorted(inputs.records.items()):
        numbers = rec["colour_match"].get(key, [rest] * 3)
        for c in range(3):
            values[c][frame] = float(numbers[c])
    return tuple(Curve.of(v) for v in values)


def _colour_match(inputs: DoubleInputs, source: str) -> tuple[list[Node], str]:
    mode = inputs.colour_match
    if mode == "none":
        return [], source
    off = Expr("!parent.colour_match")
    if mode == "histogram":
        return _histogram(inputs, source, off)
    grade = Node("Grade", "MatchGrade", {
        "channels": "rgb", "multiply": (*_match_curves(inputs, "multiply", 1.0), 1.0),
        "add": (*_match_curves(inputs, "add", 0.0), 0.0), "black_clamp": False,
        "disable": off})
    if mode == "gain":
        grade.inputs = [source]
        return [grade], grade.name
    to_log = Node("OCIOColorSpace", "ToLog", {"in_colorspace": inputs.working,
                                              "out_colorspace": LOG_SPACE, "disable": off},
                  [source])
    grade.inputs = [to_log.name]
    back = Node("OCIOColorSpace", "FromLog", {"in_colorspace": LOG_SPACE,
                                              "out_colorspace": inputs.working,
                                              "disable": off}, [grade.name])
    return [to_log, grade, back], back.name


#: the histogram map's end slopes reach this far beyond its first and last knot (ACEScct
#: codes; the encoding spans about -0.36 .. 1.47 for finite half values), as one more knot
#: each side: a ColorLookup curve holds its end values beyond its last key
REACH = 4.0


def lookup_curve(match: dict[str, Any], channel: int) -> Expr:
    """One channel's histogram map as a linear ColorLookup curve (``{}``: identity)."""
    if match.get("method") != "histogram":
        return Expr("")
    knots = [(float(e), float(p)) for e, p in match["knots"][channel]]
    slope = float(match["slope"][channel])
    (e0, p0), (e1, p1) = knots[0], knots[-1]
    knots = [(e0 - REACH, p0 - slope * REACH), *knots, (e1 + REACH, p1 + slope * REACH)]
    return Expr("curve L " + " ".join(f"x{e!r} {p!r}" for e, p in knots))


def _histogram(inputs: DoubleInputs, source: str, off: Expr) -> tuple[list[Node], str]:
    """ToLog -> one ColorLookup per frame (a lookup's curves cannot animate) -> a Switch
    on the frame -> FromLog."""
    first, last = inputs.frames
    nodes = [Node("OCIOColorSpace", "ToLog", {"in_colorspace": inputs.working,
                                              "out_colorspace": LOG_SPACE, "disable": off},
                  [source])]
    lookups: list[str | None] = []
    for frame in range(first, last + 1):
        match = inputs.records.get(frame, {}).get("colour_match", {"method": "none"})
        lut = ("master", Expr(""), *(v for c, name in enumerate(("red", "green", "blue"))
                                     for v in (name, lookup_curve(match, c))),
               "alpha", Expr(""))
        nodes.append(Node("ColorLookup", f"Lookup{frame}", {"channels": "rgb", "lut": lut},
                          ["ToLog"]))
        lookups.append(f"Lookup{frame}")
    nodes.append(Node("Switch", "MatchFrame", {"which": Expr(f"frame-{first}"),
                                               "disable": off}, lookups))
    nodes.append(Node("OCIOColorSpace", "FromLog", {"in_colorspace": LOG_SPACE,
                                                    "out_colorspace": inputs.working,
                                                    "disable": off}, ["MatchFrame"]))
    return nodes, "FromLog"


def _grain_curves(inputs: DoubleInputs) -> dict[str, Value]:
    knobs: dict[str, Value] = {}
    for c, name in enumerate(("red", "green", "blue")):
        std = {f: float(r["grain"]["std"][c]) if r["grain"] else 0.0
               for f, r in inputs.records.items()}
        size = {f: float(r["grain"]["size_sigma"]) if r["grain"] else 0.0
                for f, r in inputs.records.items()}
        knobs[f"{name}_m"] = Curve.of(std)
        knobs[f"{name}_size"] = Curve.of(size)
    return knobs


def digital_double(inputs: DoubleInputs, name: str = "DigitalDouble1",
                   live: list[Node] | None = None) -> Node:
    """The Group; its input 0 is the plate in its own colourspace. With ``live`` (the live
    Inference branch, :func:`nuke_plugin.core.live.live_nodes` fed from ``Input1``, its
    CatFileCreator left out), a ``live`` checkbox switches the face from the farm's
    elements to that branch; everything after (match, matte, merge) is shared."""
    first, last = inputs.frames
    kids: list[Node] = [
        Node("Input", "Input1", {"number": 0}, []),
        Node("OCIOColorSpace", "PlateToWorking", {
            "in_colorspace": inputs.plate_colourspace, "out_colorspace": inputs.working},
            ["Input1"]),
        Node("Read", "ReadFace", {
            "file": inputs.elements, "first": first, "last": last, "origfirst": first,
            "origlast": last, "colorspace": inputs.working, "on_error": "black"}, []),
    ]
    face = "ReadFace"
    if live:
        kids += live
        kids.append(Node("Switch", "FaceSource", {"which": Expr("parent.live")},
                         ["ReadFace", live[-1].name]))
        face = "FaceSource"
    kids.append(Node("Unpremult", "Unpremult", {"channels": "rgb"}, [face]))
    matched, colour = _colour_match(inputs, "Unpremult")
    kids += matched
    kids += [
        Node("Copy", "MatteToAlpha", {"from0": MATTE, "to0": "rgba.alpha"}, [face, face]),
        Node("FilterErode", "Erode", {"channels": "alpha", "size": Expr("parent.erode")},
             ["MatteToAlpha"]),
        Node("Blur", "Feather", {"channels": "alpha", "size": Expr("parent.feather")},
             ["Erode"]),
        Node("Merge2", "CoverTimesMatte", {
            "operation": "multiply", "Achannels": "alpha", "Bchannels": "alpha",
            "output": "alpha"}, [colour, "Feather"]),
        Node("Grain2", "Grain", {**_grain_curves(inputs), "mix": Expr("parent.grain_amount"),
                                 "disable": Expr("!parent.grain_amount")},
             ["CoverTimesMatte"]),
        Node("Premult", "Premult", {"channels": "rgb"}, ["Grain"]),
        Node("Merge2", "Over", {"operation": "over", "mix": Expr("parent.mix")},
             ["PlateToWorking", "Premult"]),
        Node("OCIOColorSpace", "ToOutput", {"in_colorspace": inputs.working,
                                            "out_colorspace": inputs.output}, ["Over"]),
        Node("Expression", "Changed", {"channel3": "alpha", "expr3": "a>0"}, ["Premult"]),
    ]
    plate = "Input1"
    if inputs.output != inputs.plate_colourspace:
        kids.append(Node("OCIOColorSpace", "PlateToOutput", {
            "in_colorspace": inputs.plate_colourspace, "out_colorspace": inputs.output},
            ["Input1"]))
        plate = "PlateToOutput"
    kids += [
        Node("Keymix", "Keep", {"channels": "rgba", "maskChannel": "rgba.alpha"},
             [plate, "ToOutput", "Changed"]),
        Node("Output", "Output1", {}, ["Keep"]),
    ]
    check = Graph()
    for kid in kids:
        check.add(kid)
    user = [
        UserKnob(T["Tab_Knob"], "digital_double", "DigitalDouble"),
        UserKnob(T["File_Knob"], "shot_config", "shot config"),
        UserKnob(T["String_Knob"], "version", "render version"),
        UserKnob(T["Double_Knob"], "mix", "mix", ("R", "0", "1")),
        UserKnob(T["Double_Knob"], "erode", "erode", ("R", "-20", "20")),
        UserKnob(T["Double_Knob"], "feather", "feather", ("R", "0", "50")),
        UserKnob(T["Boolean_Knob"], "colour_match", "colour match"),
        UserKnob(T["Double_Knob"], "grain_amount", "grain amount", ("R", "0", "1")),
        *([UserKnob(T["Boolean_Knob"], "live", "live (Inference on the plate)")]
          if live else []),
        UserKnob(T["PyScript_Knob"], "reload", "Reload"),
        UserKnob(T["PyScript_Knob"], "submit", "Submit comp to farm"),
    ]
    knobs: dict[str, Value] = {
        "label": f"licence {inputs.licence_id}\nSYNTHETIC",
        "shot_config": inputs.config, "version": inputs.render, "mix": inputs.mix,
        "erode": inputs.erode, "feather": inputs.feather,
        "colour_match": inputs.colour_match != "none",
        "grain_amount": 1.0 if inputs.grain else 0.0,
        "reload": RELOAD_SCRIPT, "submit": SUBMIT_SCRIPT,
        **({"live": False} if live else {}),
    }
    return Node("Group", name, knobs, ["ReadPlate"], kids, user)


def provenance(inputs: DoubleInputs) -> dict[str, str]:
    """What the Write puts in every frame's header (the farm comp's own names)."""
    return {"vfx_double/licenceId": inputs.licence_id,
            "vfx_double/modelHash": inputs.model_hash,
            "vfx_double/synthetic": "1", "vfx_double/render": inputs.render,
            "vfx_double/colourspace": inputs.output}


def comp_script(inputs: DoubleInputs, plate: str, out: str, *, ocio_config: str,
                fps: float = 24.0, live: list[Node] | None = None
                ) -> tuple[Graph, dict[str, Value]]:
    """The shot's script: plate Read (raw: the group converts) -> DigitalDouble ->
    provenance metadata -> Write (EXR half, raw: already in the output colourspace). With
    ``live`` (:func:`nuke_plugin.core.live.live_nodes`), its branch goes inside the group
    and its CatFileCreator (no inputs) stands beside, ready to make the .cat."""
    first, last = inputs.frames
    graph = Graph()
    graph.add(Node("Read", "ReadPlate", {
        "file": plate, "first": first, "last": last, "origfirst": first, "origlast": last,
        "colorspace": inputs.plate_colourspace, "raw": True}, []))
    makers = [n for n in live or [] if n.cls == "CatFileCreator"]
    for maker in makers:
        graph.add(maker)
    graph.add(digital_double(inputs, live=[n for n in live or [] if n not in makers]))
    meta = tuple(Expr(f"set {key} {json.dumps(value)}")
                 for key, value in provenance(inputs).items())
    graph.add(Node("ModifyMetaData", "Provenance", {"metadata": meta}, ["DigitalDouble1"]))
    graph.add(Node("Write", "WriteComp", {
        "file": out, "file_type": "exr", "datatype": "16 bit half", "compression": "Zip (1 scanline)",
        "metadata": "all metadata", "raw": True, "colorspace": inputs.output,
        "first": first, "last": last, "use_limit": True, "create_directories": True},
        ["Provenance"]))
    root: dict[str, Value] = {
        "first_frame": first, "last_frame": last, "fps": fps, "colorManagement": "OCIO",
        "OCIO_config": "custom", "customOCIOConfigPath": ocio_config,
        "workingSpaceLUT": inputs.working}
    return graph, root
