"""The MediaPipe-478 -> iBUG-68 table: shape, groups, left-right order and symmetry."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from vfx_double.face import ibug68
from vfx_double.track.backends import FaceBox, MediaPipeBackend

#: Mirror images of the mesh vertices the tables use (subject's right <-> left); from
#: matching the astronaut's mesh to its mirror image, agreeing with the eye, lip and
#: oval loops of mediapipe's ``face_mesh_connections``. Midline vertices map to themselves.
MESH_MIRROR_PAIRS = (
    (127, 356), (234, 454), (93, 323), (132, 361), (58, 288), (172, 397), (136, 365),
    (150, 379), (176, 400), (70, 300), (63, 293), (105, 334), (66, 296), (107, 336),
    (75, 305), (97, 326), (33, 263), (160, 387), (158, 385), (133, 362), (153, 380),
    (144, 373), (61, 291), (39, 269), (37, 267), (91, 321), (84, 314), (78, 308),
    (82, 312), (87, 317), (34, 264), (143, 372), (111, 340), (117, 346), (227, 447),
    (116, 345), (137, 366), (123, 352), (50, 280), (205, 425), (177, 401), (147, 376),
    (187, 411), (207, 427), (215, 435), (213, 433), (135, 364), (214, 434), (212, 432),
    (57, 287), (169, 394), (210, 430), (202, 422), (43, 273), (140, 369), (211, 431),
    (204, 424),
)
MIDLINE = (152, 168, 6, 197, 195, 5, 4, 2, 0, 17, 13, 14, 175, 199, 200, 201)


def mesh_mirror(vertex: int) -> int:
    for a, b in MESH_MIRROR_PAIRS:
        if vertex in (a, b):
            return b if vertex == a else a
    assert vertex in MIDLINE, f"vertex {vertex} has no known mirror"
    return vertex


@pytest.fixture(scope="module")
def astronaut_mesh() -> np.ndarray:
    with MediaPipeBackend() as backend:
        marks = backend.landmarks(data.astronaut(), FaceBox(174, 68, 278, 172, 1.0))
    assert marks is not None and marks.dense is not None
    return marks.dense


def test_table_shape() -> None:
    assert len(ibug68.MESH_TO_IBUG68) == 68 and len(ibug68.JAW_SPOKES) == 17
    for vertices in ibug68.MESH_TO_IBUG68 + ibug68.JAW_SPOKES:
        assert vertices and all(0 <= v < 468 for v in vertices)  # never the irises
    assert all(1 <= len(v) <= 2 for v in ibug68.MESH_TO_IBUG68)
    covered = [i for group in ibug68.GROUPS.values() for i in group]
    assert covered == list(range(68))


def test_known_anchor_vertices() -> None:
    """Points whose mesh vertex is unambiguous in mediapipe's own named loops."""
    table = ibug68.MESH_TO_IBUG68
    assert (table[36], table[39], table[42], table[45]) == ((33,), (133,), (362,), (263,))
    assert (table[48], table[54], table[8]) == ((61,), (291,), (152,))


def test_table_is_left_right_symmetric() -> None:
    for i, j in enumerate(ibug68.MIRROR):
        mirrored = {mesh_mirror(v) for v in ibug68.MESH_TO_IBUG68[i]}
        assert mirrored == set(ibug68.MESH_TO_IBUG68[j]), (i, j)
    for k, spoke in enumerate(ibug68.JAW_SPOKES):
        assert tuple(mesh_mirror(v) for v in spoke) == ibug68.JAW_SPOKES[16 - k], k


def test_mirror_is_an_involution() -> None:
    mirror = np.array(ibug68.MIRROR)
    assert sorted(ibug68.MIRROR) == list(range(68)) and (mirror[mirror] == np.arange(68)).all()
    points = np.random.default_rng(0).uniform(0, 100, (68, 2))
    np.testing.assert_allclose(ibug68.mirror(ibug68.mirror(points, 100), 100), points)


def test_groups_run_left_to_right_on_a_frontal_face(astronaut_mesh: np.ndarray) -> None:
    p = ibug68.to_ibug68(astronaut_mesh)
    x, y = p[:, 0], p[:, 1]
    assert x[36] < x[39] < x[42] < x[45]  # 36: the subject's right outer corner, image-left
    assert np.all(np.diff(x[17:27]) > 0) and np.all(np.diff(x[31:36]) > 0)
    assert np.all(np.diff(x[48:55]) > 0) and np.all(np.diff(x[54:60]) < 0)
    assert x[0] < x[4] < x[8] < x[12] < x[16] and np.all(np.diff(x[2:15]) > 0)
    assert np.argmax(y[0:17]) in (7, 8, 9) and np.all(np.diff(y[27:31]) > 0)
    assert y[19] < y[37] < y[41] < y[30] < y[51] < y[57] < y[8]


def test_jaw_takes_the_outermost_spoke_vertex(astronaut_mesh: np.ndarray) -> None:
    mesh = astronaut_mesh.copy()
    table = ibug68.table_points(mesh)
    frontal = ibug68.to_ibug68(mesh)
    # Frontal: the oval vertex is outermost, moved out by JAW_OFFSET.
    scale = np.linalg.norm(mesh[152] - mesh[168])
    np.testing.assert_allclose(np.linalg.norm(frontal[:17] - table[:17], axis=1),
                               ibug68.JAW_OFFSET * scale)
    np.testing.assert_array_equal(frontal[17:], table[17:])
    # Push a cheek vertex past the outline (as a turned head does): it becomes the jaw point.
    cheek = ibug68.JAW_SPOKES[2][1]
    mesh[cheek] = table[2] + (table[2] - mesh[4]) * 0.3
    np.testing.assert_array_equal(ibug68.to_ibug68(mesh)[2], mesh[cheek])


def test_nme_uses_outer_eye_corners() -> None:
    truth = np.zeros((68, 2))
    truth[45] = (10.0, 0.0)
    assert ibug68.nme(truth + (0.0, 2.0), truth) == pytest.approx(0.2)
