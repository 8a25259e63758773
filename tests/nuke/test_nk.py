"""The .nk writer against its reader and a golden script: Nuke's stack rules, curves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nuke_plugin.core.digital_double import DoubleInputs, comp_script
from nuke_plugin.core.graph import Curve, Expr, Graph, Node
from nuke_plugin.core.nk import to_nk
from nuke_plugin.core.nkread import NkSyntaxError, read_nk

GOLDEN = Path(__file__).parent / "golden" / "digital_double.nk"


def fixed_inputs() -> DoubleInputs:
    def record(frame: int, k: float) -> dict:
        return {"frame": frame, "colour_match": {"method": "rct", "space": "ACEScct",
                                                 "multiply": [k, 1.0, 0.5],
                                                 "add": [0.01, -0.02, 0.125]},
                "grain": None}
    records = {f: record(f, 1.0 + (f - 1001) / 8) for f in range(1001, 1005)}
    records[1003]["colour_match"] = {"method": "none"}
    return DoubleInputs(
        config="/show/shot_configs/DEMO/sh010.yaml", render="v001",
        elements="/work/DEMO/sh010/render/v001/face.####.exr", frames=(1001, 1004),
        plate_colourspace="ARRI LogC3 (EI800)", working="ACEScg",
        output="ARRI LogC3 (EI800)", licence_id="DEMO-0001", model_hash="ab" * 32,
        mix=1.0, erode=0.0, feather=8.0, colour_match="rct", grain=False, records=records)


def script_text() -> str:
    graph, root = comp_script(fixed_inputs(), "/plates/sh010_plate.####.exr",
                              "/work/comp/sh010_nuke.####.exr",
                              ocio_config="ocio://studio-config-v2.2.0_aces-v1.3_ocio-v2.4")
    return to_nk(graph, root)


def test_golden_script() -> None:
    text = script_text()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_script_reads_back_as_the_graph() -> None:
    graph, root = comp_script(fixed_inputs(), "/p.####.exr", "/o.####.exr", ocio_config="x")
    script = read_nk(to_nk(graph, root))
    assert script.root == root
    assert script.graph == graph
    group = script.graph.node("DigitalDouble1")
    over = next(k for k in group.children if k.name == "Over")
    assert over.inputs == ["PlateToWorking", "Premult"]  # B, A
    grade = next(k for k in group.children if k.name == "MatchGrade")
    red = grade.knobs["multiply"][0]
    assert isinstance(red, Curve) and red.at(1002) == 1.125 and red.at(1003) == 1.0
    assert group.knobs["label"] == "licence DEMO-0001\nSYNTHETIC"


def test_merge_inputs_follow_the_stack_top_is_input_0() -> None:
    text = to_nk(*_two_reads())
    # B is pushed last (on top); A, the node just written, is used in place
    assert text.index("push $NB") > text.index("name A")
    assert read_nk(text).graph.node("M").inputs == ["B", "A"]


def _two_reads():
    g = Graph()
    g.add(Node("Read", "B", {"file": "b.exr"}, []))
    g.add(Node("Read", "A", {"file": "a.exr"}, []))
    g.add(Node("Merge2", "M", {"mix": Expr("parent.mix")}, ["B", "A"]))
    return g, {"first_frame": 1}


def test_curve_syntax_one_x_per_run_of_frames() -> None:
    g = Graph()
    g.add(Node("Transform", "T", {"translate": (Curve.of({1: 0.5, 2: 0.25, 5: 1.0}),
                                                Curve.of({1: 2.0}))}, [None]))
    text = to_nk(g, {})
    assert "translate {{curve x1 0.5 0.25 x5 1.0} {curve x1 2.0}}" in text
    assert read_nk(text).graph.node("T").knobs == g.node("T").knobs


def test_reader_refuses_a_broken_stack() -> None:
    with pytest.raises(NkSyntaxError, match="takes 2 inputs, the stack holds 1"):
        read_nk('Root {\n}\nRead {\n inputs 0\n name R\n}\nMerge2 {\n inputs 2\n name M\n}\n')
    with pytest.raises(NkSyntaxError, match="no end_group"):
        read_nk('Group {\n inputs 0\n name G\n}\nInput {\n inputs 0\n name Input1\n}\n')
    with pytest.raises(NkSyntaxError, match="unknown variable"):
        read_nk("push $Nnothing\n")


def test_strings_that_tcl_would_substitute_are_escaped() -> None:
    g = Graph()
    g.add(Node("NoOp", "N", {"label": 'a $b [c] "d"', "v": "1001"}, [None]))
    assert read_nk(to_nk(g, {})).graph.node("N").knobs == {"label": 'a $b [c] "d"', "v": "1001"}


def test_histogram_match_is_a_lookup_per_frame_behind_a_switch() -> None:
    inputs = fixed_inputs()
    knots = [[[0.1, 0.12], [0.4, 0.38], [0.6, 0.65]]] * 3
    records = {f: {"frame": f, "grain": None,
                   "colour_match": {"method": "histogram", "space": "ACEScct",
                                    "knots": knots, "slope": [1.0, 1.5, 0.5]}}
               for f in range(1001, 1005)}
    from dataclasses import replace
    graph, root = comp_script(replace(inputs, colour_match="histogram", records=records),
                              "/p.####.exr", "/o.####.exr", ocio_config="x")
    script = read_nk(to_nk(graph, root))
    assert script.graph == graph
    kids = {k.name: k for k in script.graph.node("DigitalDouble1").children}
    assert kids["MatchFrame"].inputs == [f"Lookup{f}" for f in range(1001, 1005)]
    lut = dict(zip(kids["Lookup1002"].knobs["lut"][::2], kids["Lookup1002"].knobs["lut"][1::2]))
    assert lut["master"] == Expr("")
    # the end slopes as one knot REACH beyond each end: 0.1 - 4 * 1.5 -> 0.12 - 6
    assert lut["green"].text.startswith("curve L x-3.9 -5.88 x0.1 0.12")
    assert "lut {master {} red {curve L x-3.9 " in to_nk(graph, root)
