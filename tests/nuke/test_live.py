"""The live path's geometry (issue 13, part 5): the track's plate -> crop matrices as Nuke
Transform knobs, checked on the crop's corners against vfx_double's own matrices."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nuke_plugin.core.graph import Graph, Node
from nuke_plugin.core.live import (
    align_knobs,
    catfilecreator_node,
    live_nodes,
    nuke_matrix,
    similarity_knobs,
)
from vfx_double.face.align import TEMPLATE_68, align_matrix
from vfx_double.face.track import TrackResult

W, H, S = 1920, 1080, 256
FRAMES = [1001, 1002, 1003, 1004, 1005]
NO_FACE = 1004


def face_points(frame: int) -> np.ndarray:
    """A ~300 px face moving right and down and rolling up to 25 degrees (y down)."""
    i = frame - 1001
    a = math.radians(-10 + 8.75 * i)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return ((TEMPLATE_68 - 0.5) * (300 + 20 * i)) @ rot.T + np.array([700 + 60 * i, 420 + 25 * i])


@pytest.fixture
def track() -> TrackResult:
    return synthetic_track()


def synthetic_track() -> TrackResult:
    """Five frames of a face rolling -10..25 degrees, one without a face."""
    matrices = np.stack([align_matrix(face_points(f), S, 0.6) for f in FRAMES])
    matrices[FRAMES.index(NO_FACE)] = np.nan
    points = np.stack([face_points(f) for f in FRAMES])
    return TrackResult(sequence="plate", source="plates", colourspace="ACEScg",
                       frame_size=(W, H), frames=FRAMES, points_raw=points, points=points,
                       boxes=np.zeros((5, 4)), confidence=np.ones(5), matrices=matrices,
                       flags=[["no_face"] if f == NO_FACE else [] for f in FRAMES],
                       backend={"name": "synthetic", "version": "0"},
                       settings={"crop_size": S, "coverage": 0.6})


def nuke_transform(translate, rotate: float, scale, center) -> np.ndarray:
    """Nuke's Transform written out step by step (no skew): scale, then rotate (degrees,
    counter-clockwise with y up) about ``center``, then translate; 3x3 on (x, y, 1)."""
    cx, cy = center
    a = math.radians(rotate)
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]])
    sc = np.diag([scale[0], scale[1], 1.0])
    ro = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]])
    back = np.array([[1, 0, cx + translate[0]], [0, 1, cy + translate[1]], [0, 0, 1.0]])
    return back @ ro @ sc @ to_centre


def knobs_at(knobs: dict, frame: int):
    tx, ty = knobs["translate"]
    sx, sy = knobs["scale"]
    return (tx.at(frame), ty.at(frame)), knobs["rotate"].at(frame), \
        (sx.at(frame), sy.at(frame)), knobs["center"]


def test_nuke_rotation_convention_is_counter_clockwise_in_y_up():
    m = nuke_transform((0, 0), 90, (1, 1), (0, 0))
    np.testing.assert_allclose(m @ [1, 0, 1], [0, 1, 1], atol=1e-12)


def test_crop_corners_through_the_transform_knobs_land_on_nukes_crop_box(track):
    """For each tracked frame: the plate points that the track matrix sends to the crop's
    corners (pixel edges, vfx_double's convention), flipped into Nuke's plate coordinates
    and moved by the Transform the knobs describe, are the corners of Nuke's [0, S] box,
    top-left to top-left (the crop's row 0 is Nuke's top)."""
    knobs = align_knobs(track, S)
    corners = np.array([[-0.5, -0.5], [S - 0.5, -0.5], [-0.5, S - 0.5], [S - 0.5, S - 0.5]])
    nuke_corners = np.array([[0, S], [S, S], [0, 0], [S, 0]], np.float64)
    checked = 0
    for frame, matrix, ok in zip(track.frames, track.matrices, track.valid):
        if not ok:
            continue
        m3 = np.vstack([matrix, [0, 0, 1]])
        plate = (np.linalg.inv(m3) @ np.c_[corners, np.ones(4)].T).T[:, :2]
        # vfx_double (y down, centres on integers) -> Nuke (y up, centres at +0.5)
        plate_nuke = np.c_[plate[:, 0] + 0.5, H - 0.5 - plate[:, 1], np.ones(4)]
        moved = (nuke_transform(*knobs_at(knobs, frame)) @ plate_nuke.T).T[:, :2]
        np.testing.assert_allclose(moved, nuke_corners, atol=1e-6)
        # and the inverse transform puts the crop's corners back where the plate had them
        back = (np.linalg.inv(nuke_transform(*knobs_at(knobs, frame)))
                @ np.c_[nuke_corners, np.ones(4)].T).T
        np.testing.assert_allclose(back, plate_nuke, atol=1e-6)
        checked += 1
    assert checked == len(FRAMES) - 1


def test_the_rotation_is_the_faces_roll_mirrored_by_the_flip(track):
    """The crop undoes the face's roll: a roll of r degrees with y down (clockwise on
    screen) is -r with y up, undone by Nuke's rotate +r. A sign error in the flip shows
    here as rotate = -roll."""
    knobs = align_knobs(track, S)
    rolls = [-10 + 8.75 * (f - 1001) for f in FRAMES if f != NO_FACE]
    rotates = [knobs["rotate"].at(f) for f in FRAMES if f != NO_FACE]
    np.testing.assert_allclose(rotates, rolls, atol=1e-6)


def test_frames_without_a_face_have_no_key(track):
    knobs = align_knobs(track, S)
    keyed = [f for f, _ in knobs["rotate"].keys]
    assert keyed == [f for f in FRAMES if f != NO_FACE]


def test_a_matrix_that_is_not_a_similarity_is_refused():
    shear = np.array([[1.0, 0.3, 5.0], [0.0, 1.0, 2.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="similarity"):
        similarity_knobs(shear, (0.0, 0.0))
    flipped = nuke_matrix(np.array([[-1.0, 0.0, 10.0], [0.0, 1.0, 0.0]]), H, S)
    with pytest.raises(ValueError, match="similarity"):
        similarity_knobs(flipped, (0.0, 0.0))


SIDECAR = {
    "schema": "NukeModel.1",
    "catfilecreator": {"torchScriptFile": "m.pt", "catFile": "m.cat",
                       "channelsIn": "rgba.red, rgba.green, rgba.blue",
                       "channelsOut": "rgba.red, rgba.green, rgba.blue, rgba.alpha",
                       "modelId": "m", "outputScale": 1},
    "user_knobs": [{"name": "edge_fade", "class": "Int_Knob", "default": 16, "help": ""}],
    "input": {"colourspace": "ACEScct"},
    "licence_id": "TEST-0001",
}


def test_live_branch_is_a_graph_from_the_plate_to_the_elements_layout(track, tmp_path: Path):
    nodes = live_nodes(track, SIDECAR, tmp_path, plate_colourspace="ARRI LogC3 (EI800)",
                       working="ACEScg", matte_channel="matte.alpha", source="Input1")
    graph = Graph()
    graph.add(Node("Input", "Input1", {"number": 0}))
    for node in nodes:  # every input is defined before use, names are unique
        graph.add(node)
    classes = [n.cls for n in nodes]
    assert classes == ["OCIOColorSpace", "Transform", "Crop", "Inference", "Copy", "Expression",
                       "Reformat", "Transform", "OCIOColorSpace", "Premult", "CatFileCreator"]
    align, unalign = graph.node("LiveAlign"), graph.node("LiveUnalign")
    assert unalign.knobs["invert_matrix"] is True and "invert_matrix" not in align.knobs
    assert all(align.knobs[k] == unalign.knobs[k] for k in ("translate", "rotate", "scale",
                                                            "center"))
    assert graph.node("LiveCrop").knobs["box"] == (0, 0, S, S)
    assert graph.node("LiveUncrop").knobs["box_width"] == W
    assert graph.node("LiveToNetwork").knobs["out_colorspace"] == "ACEScct"
    assert graph.node("LiveToWorking").knobs["out_colorspace"] == "ACEScg"
    assert graph.node("LiveMatte").knobs["to0"] == "matte.alpha"  # what the group reads
    cat = graph.node("LiveCatFileCreator")
    assert cat.inputs == []
    assert graph.node("LiveInference").knobs["modelFile"] == cat.knobs["catFile"] \
        == str(tmp_path / "m.cat")


def test_catfilecreator_takes_the_sidecars_settings_and_declares_the_knob(tmp_path: Path):
    node = catfilecreator_node(SIDECAR, tmp_path)
    for key in ("channelsIn", "channelsOut", "modelId", "outputScale"):
        assert node.knobs[key] == SIDECAR["catfilecreator"][key]
    assert node.knobs["torchScriptFile"] == str(tmp_path / "m.pt")
    assert [(k.type, k.name) for k in node.user_knobs] == [(3, "edge_fade")]
    assert node.knobs["edge_fade"] == 16
    assert "TEST-0001" in node.knobs["label"] and "SYNTHETIC" in node.knobs["label"]


def test_the_evaluators_align_and_crop_is_vfx_doubles_crop(track, tmp_path: Path):
    """The reference evaluator's Transform + Crop (Nuke's y-up space, the read-back knobs)
    gives the crop ``cv2.warpAffine`` makes from the track matrix (render's warp, y down),
    and its Reformat + inverted Transform puts a crop back where the inverse warp does: the
    evaluator's flips agree with the track's convention, independently of the knobs'."""
    import cv2

    from nuke_plugin.core.nk import to_nk
    from nuke_plugin.core.nkread import read_nk
    from tests.nuke.evaluator import Evaluator

    nodes = live_nodes(track, SIDECAR, tmp_path, plate_colourspace="ACEScg",
                       working="ACEScg", matte_channel="matte.alpha", source="Input1")
    graph = Graph()
    graph.add(Node("Input", "Input1", {"number": 0}))
    for node in nodes:
        graph.add(node)
    read = {n.name: n for n in read_nk(to_nk(graph, {})).graph.nodes}
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    plate = (0.5 + 0.25 * np.sin(xx / 37.0) * np.cos(yy / 23.0) + xx / (4 * W)).astype(
        np.float32)
    ev = Evaluator.__new__(Evaluator)

    def run(name, image, frame):
        return getattr(ev, f"_{read[name].cls}")(read[name], frame, None, lambda i: image)

    frame = FRAMES[1]
    matrix = track.matrices[FRAMES.index(frame)]
    crop = run("LiveCrop", run("LiveAlign", {"rgba.red": plate}, frame), frame)["rgba.red"]
    want = cv2.warpAffine(plate, matrix, (S, S), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_CONSTANT)
    assert crop.shape == (S, S)
    np.testing.assert_allclose(crop, want, atol=1e-4)
    back = run("LiveUnalign", run("LiveUncrop", {"rgba.red": want}, frame), frame)["rgba.red"]
    want_back = cv2.warpAffine(want, matrix, (W, H), flags=cv2.INTER_CUBIC
                               | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
    assert back.shape == (H, W)
    np.testing.assert_allclose(back, want_back, atol=1e-4)
    assert np.abs(want_back).max() > 0.4
