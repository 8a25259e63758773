"""Plate <-> crop geometry: the render's back warp undoes the faceset's forward warp."""

import cv2
import numpy as np
import pytest

from vfx_double.face.crop import (
    aligned_crop,
    crop_box,
    footprint,
    rescale,
    resize_crop,
    sub_box,
    to_plate,
    warp_crop,
    with_offset,
)


def smooth_plate(h: int = 300, w: int = 400) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([np.sin(xx / 23.0) + yy / h, np.cos(yy / 17.0), (xx + yy) / (h + w)],
                    axis=-1).astype(np.float32)


def similarity(scale: float, angle_deg: float, centre: tuple[float, float], size: int
               ) -> np.ndarray:
    """Plate -> crop: ``centre`` of the plate lands in the middle of a ``size`` crop."""
    m = cv2.getRotationMatrix2D(centre, angle_deg, scale)
    m[:, 2] += np.array([size / 2.0 - 0.5, size / 2.0 - 0.5]) - np.array(centre)
    return m


@pytest.mark.parametrize("scale, resolution", [(1.4, 128), (0.8, 64), (2.5, 64)])
def test_back_warp_undoes_the_crop(scale, resolution):
    plate = smooth_plate()
    window = (0, 0, plate.shape[1], plate.shape[0])
    size = 256
    matrix = similarity(scale, 12.0, (210.0, 140.0), size)
    crop = resize_crop(warp_crop(plate, matrix, size), resolution)
    m_r = rescale(matrix, size, resolution)
    box = crop_box(m_r, resolution, window, margin=1)
    back = to_plate(crop, m_r, box)
    cover = footprint(m_r, resolution, box)
    ys, xs = sub_box(window, box)
    inside = cover > 0.999
    inner = cv2.erode(inside.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    err = np.abs(back - plate[ys, xs])[inner]
    # A smooth image survives crop + resize + back warp to a small fraction of its range.
    assert inner.sum() > 1000
    assert np.median(err) < 0.01 and np.percentile(err, 99) < 0.06


def test_rescale_maps_pixel_centres_like_cv2_resize():
    size, res = 256, 64
    matrix = similarity(1.0, 0.0, (128.0, 128.0), size)
    grid = np.zeros((size, size), np.float32)
    grid[100:140, 60:100] = 1.0
    small = cv2.resize(grid, (res, res), interpolation=cv2.INTER_AREA)
    cy, cx = np.argwhere(small > 0.5).mean(axis=0)
    m_r = rescale(matrix, size, res)
    point = m_r @ np.array([79.5 + 0.0, 119.5, 1.0])  # centre of the square on the plate
    assert abs(point[0] - cx) < 0.3 and abs(point[1] - cy) < 0.3


def test_crop_box_clips_to_the_window_and_aligns():
    matrix = similarity(1.0, 0.0, (10.0, 10.0), 64)
    box = crop_box(matrix, 64, (0, 0, 100, 100), margin=4, align=8)
    assert box[0] == 0 and box[1] == 0 and box[2] <= 100
    far = similarity(1.0, 0.0, (1000.0, 1000.0), 64)
    assert crop_box(far, 64, (0, 0, 100, 100)) is None
    offset = crop_box(similarity(1.0, 0.0, (60.0, 60.0), 32), 32, (3, 5, 200, 200), align=8)
    assert (offset[0] - 3) % 8 == 0 and (offset[1] - 5) % 8 == 0


def test_with_offset_and_sub_box_agree():
    outer = (10, 20, 50, 40)
    inner = (15, 30, 5, 6)
    ys, xs = sub_box(outer, inner)
    assert (ys.start, ys.stop, xs.start, xs.stop) == (10, 16, 5, 10)
    m = np.array([[1.0, 0, -3], [0, 1.0, 4]])
    shifted = with_offset(m, outer)
    assert np.allclose(shifted @ [0, 0, 1], m @ [10, 20, 1])


@pytest.mark.parametrize("scale", [1.3, 0.6, 0.3, 0.2, 0.12, 0.06, 0.035])
def test_the_region_recipe_gives_the_whole_frame_crop(scale):
    # aligned_crop encodes and warps only the face's region: on the whole frame's pyramid
    # grid and grown for the taps, it must give the crop the whole frame gives, however
    # many pyramid levels the face's size takes (0.035 is five)
    rng = np.random.default_rng(3)
    plate = rng.random((3000, 4000, 3)).astype(np.float32)
    plate = cv2.GaussianBlur(plate, (0, 0), 0.7)
    window = (-37, 11, 4000, 3000)  # a data window off the display origin
    size = 128
    matrix = similarity(scale, 17.0, (1900.3, 1500.7), size)

    def encode(x):
        return np.log2(x + 0.25)

    whole = warp_crop(encode(plate), with_offset(matrix, window), size)
    region = aligned_crop(plate, window, matrix, size, encode)
    np.testing.assert_array_equal(region, whole)
    # a crop wholly off the frame has no region
    off = similarity(scale, 0.0, (9000.0, 9000.0), size)
    assert aligned_crop(plate, window, off, size, encode) is None
