"""Build log-encoded EXR plate sequences: the synthetic demo plates and real-clip imports.

The demo scene is scikit-image's public-domain ``astronaut`` photograph hung as a print on
a softly lit wall and filmed by a moving camera (pan, push-in, small roll) with a slow
exposure drift and sensor grain, in scene-linear ACEScg, then encoded to the plate's log
colourspace and written as half-float EXR. Every frame's world->plate matrix is returned
so tests can compare a tracker against the known motion.
"""

from __future__ import annotations

import re
import os
from dataclasses import dataclass
from pathlib import Path

import cv2

# FFmpeg's own logging off, before OpenCV first opens a clip in this process (it reads this
# once): a file that is not a video printed "moov atom not found" above our one-line error.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import numpy as np

from ..color import ColourConfig
from ..errors import ConfigError, MediaError
from ..face.element import PREFIX
from ..io.exr import Attribute, ExrImage, read_header, write_exr
from ..io.sequences import FrameSequence
from ..progress import ProgressFn
from .camera import CameraMove, compose, exposure_ev

#: where the astronaut's face sits in the 512x512 source (measured with FaceMesh: the mesh
#: spans x 179-271, y 71-177), used to size the print so the face is ~1/4 of the height.
SOURCE_FACE_HEIGHT = 106.0
SOURCE_FACE_CENTRE = (225.0, 124.0)
SRGB = "sRGB Encoded Rec.709 (sRGB)"
WORKING = "ACEScg"
#: how a clip meets the delivery size, as Nuke's Reformat with black borders: ``pad`` is
#: resize type "fit", ``fill`` "fill", ``stretch`` "distort", ``none`` "none" (centred).
FITS = ("pad", "fill", "stretch", "none")


@dataclass(frozen=True)
class World:
    """The scene in scene-linear ACEScg and how source photo pixels map into it."""

    pixels: np.ndarray  # (H, W, 3) float32, ACEScg
    source_to_world: np.ndarray  # (2, 3) astronaut pixel -> world pixel
    face_centre: tuple[float, float]  # in world pixels


def astronaut_srgb() -> np.ndarray:
    """The public-domain photo shipped inside scikit-image, (512, 512, 3) float32 in 0-1."""
    from skimage import data

    return data.astronaut().astype(np.float32) / 255.0


def build_world(colour: ColourConfig, face_height: float, seed: int = 7) -> World:
    """Hang the photo on a lit wall big enough for the camera to move over."""
    scale = face_height / SOURCE_FACE_HEIGHT
    print_size = int(round(512 * scale))
    height, width = int(print_size * 1.5), int(print_size * 2.4)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # A warm wall, brighter towards a key light at the upper left, with low-frequency texture.
    light = 0.9 * np.exp(-(((xx - 0.3 * width) / width) ** 2 + ((yy - 0.2 * height) / height) ** 2) * 2.0)
    texture = cv2.GaussianBlur(rng.normal(0.0, 1.0, (height // 8, width // 8)).astype(np.float32),
                               (0, 0), 3.0)
    texture = cv2.resize(texture, (width, height), interpolation=cv2.INTER_CUBIC)
    base = (0.06 + 0.12 * light) * (1.0 + 0.15 * texture)
    wall = np.stack([base * 1.08, base, base * 0.85], axis=-1).astype(np.float32)

    photo = colour.convert(astronaut_srgb(), SRGB, WORKING)
    photo = cv2.resize(photo, (print_size, print_size), interpolation=cv2.INTER_CUBIC)
    x0 = (width - print_size) // 2
    y0 = (height - print_size) // 2
    border = max(4, print_size // 60)
    wall[y0 - border:y0 + print_size + border, x0 - border:x0 + print_size + border] = 0.7
    wall[y0:y0 + print_size, x0:x0 + print_size] = np.maximum(photo, 0.0) * 0.9
    source_to_world = np.array([[scale, 0.0, x0 - 0.5 + 0.5 * scale],
                                [0.0, scale, y0 - 0.5 + 0.5 * scale]])
    face = source_to_world @ np.array([*SOURCE_FACE_CENTRE, 1.0])
    return World(wall, source_to_world, (float(face[0]), float(face[1])))


def demo_moves(world: World, frame_size: tuple[int, int]) -> tuple[CameraMove, CameraMove]:
    """The plate's move and the actor reference's, different in direction and framing."""
    fx, fy = world.face_centre
    h = frame_size[1]
    plate = CameraMove(look_from=(fx + 0.12 * h, fy + 0.05 * h), look_to=(fx - 0.10 * h, fy - 0.02 * h),
                       zoom_from=1.0, zoom_to=1.15, roll_deg=2.0)
    actor = CameraMove(look_from=(fx - 0.05 * h, fy - 0.10 * h), look_to=(fx + 0.04 * h, fy + 0.08 * h),
                       zoom_from=1.2, zoom_to=0.95, roll_deg=-3.0, roll_cycles=1.0)
    return plate, actor


def add_grain(log_rgb: np.ndarray, rng: np.random.Generator, strength: float) -> None:
    """Sensor-like grain added in the log encoding, slightly soft, per channel, in place."""
    noise = rng.normal(0.0, 1.0, log_rgb.shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.6)
    # A 0.6 px blur leaves about 0.47 of the noise's std; scale back to the requested one.
    log_rgb += noise * (strength / 0.47)


def render_frame(world: World, matrix: np.ndarray, t: float, frame: int,
                 frame_size: tuple[int, int], colour: ColourConfig, colourspace: str,
                 grain: float, seed: int) -> np.ndarray:
    """One plate frame in ``colourspace``, (H, W, 3) float32; grain seeded by frame."""
    linear = cv2.warpAffine(world.pixels, matrix, frame_size, flags=cv2.INTER_LANCZOS4,
                            borderMode=cv2.BORDER_REFLECT)
    linear *= np.float32(2.0 ** exposure_ev(t))
    encoded = colour.convert(np.maximum(linear, 0.0), WORKING, colourspace)
    add_grain(encoded, np.random.default_rng([seed, frame]), grain)
    return encoded


def write_plate(path: Path, pixels: np.ndarray, colourspace: str,
                attributes: dict[str, str | float], compression: str = "zip") -> None:
    """Write an RGB half-float plate frame; the colourspace is recorded in our own attribute."""
    h, w = pixels.shape[:2]
    attrs = [Attribute(PREFIX + "colourspace", "string", colourspace)]
    attrs += [Attribute(PREFIX + k, "float" if isinstance(v, float) else "string", v)
              for k, v in attributes.items()]
    image = ExrImage(pixels=pixels.astype(np.float16), channels=("R", "G", "B"),
                     data_window=(0, 0, w, h), display_window=(0, 0, w, h),
                     attributes=attrs, compression=compression)
    write_exr(path, image, compression=compression, pixel_type="half")


def write_demo_sequence(seq: FrameSequence, world: World, move: CameraMove, frames: list[int],
                        frame_size: tuple[int, int], colour: ColourConfig, colourspace: str,
                        label: str, seed: int, only: set[int] | None = None,
                        progress: ProgressFn | None = None) -> dict[int, list[list[float]]]:
    """Write the frames in ``only`` (default all); return every frame's source->plate matrix.

    The move spans the whole range, so matrices are known for all frames even when a rerun
    writes only the missing ones.
    """
    truth: dict[int, list[list[float]]] = {}
    count = max(len(frames) - 1, 1)
    for i, frame in enumerate(frames):
        t = i / count
        matrix = move.matrix(t, frame_size)
        truth[frame] = compose(matrix, world.source_to_world).tolist()
        if only is not None and frame not in only:
            continue
        pixels = render_frame(world, matrix, t, frame, frame_size, colour, colourspace,
                              grain=0.004, seed=seed)
        write_plate(seq.path(frame), pixels, colourspace, {"synthetic": label})
        if progress:
            progress(1)
    return truth


def _rate(capture: cv2.VideoCapture) -> float | None:
    fps = float(capture.get(cv2.CAP_PROP_FPS)) if capture.isOpened() else 0.0
    return fps if fps > 0 else None


def video_rate(video: Path) -> float | None:
    """The clip's frame rate as its container states it, or None where it states none."""
    capture = cv2.VideoCapture(str(video))
    try:
        return _rate(capture)
    finally:
        capture.release()


@dataclass(frozen=True)
class Reformat:
    """A plate delivery size and how the clip meets it; pixel aspect stays 1."""

    width: int
    height: int
    fit: str = "pad"

    @classmethod
    def parse(cls, size: str, fit: str = "pad", *, where_size: str = "--size",
              where_fit: str = "--fit") -> Reformat:
        """``"1920x1080"`` and a fit from :data:`FITS`; ConfigError on anything else."""
        match = re.fullmatch(r"(\d+)[xX](\d+)", size.strip())
        if match is None or 0 in (int(match[1]), int(match[2])):
            raise ConfigError(where_size, "WxH in whole pixels above 0, e.g. 1920x1080",
                              repr(size), "give the show's plate size")
        if fit not in FITS:
            raise ConfigError(where_fit, f"one of {', '.join(FITS)}", repr(fit),
                              "pad keeps the whole picture inside black borders")
        return cls(int(match[1]), int(match[2]), fit)

    def describe(self, width: int, height: int) -> str:
        """What was done to a ``width`` x ``height`` clip, e.g. ``pad 1920x1080 from 1280x720``."""
        return f"{self.fit} {self.width}x{self.height} from {width}x{height}"


def _filter(before: int, after: int) -> int:
    return cv2.INTER_AREA if after < before else cv2.INTER_CUBIC


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    # One axis at a time, so a stretch that shrinks one and enlarges the other gets the
    # right filter for each (both filters are separable, so nothing else changes).
    h, w = image.shape[:2]
    if width != w:
        image = cv2.resize(image, (width, h), interpolation=_filter(w, width))
    if height != h:
        image = cv2.resize(image, (width, height), interpolation=_filter(h, height))
    # Cubic rings below black at hard edges; negative scene-linear light is not light.
    return np.maximum(image, 0.0)


def reformat_frame(linear: np.ndarray, reformat: Reformat) -> np.ndarray:
    """Scale and centre a scene-linear frame on the delivery canvas, black (0) outside it.

    Args:
        linear: ``(H, W, C)`` float32 scene-linear pixels.
        reformat: the delivery size and fit.

    Returns:
        ``(reformat.height, reformat.width, C)`` float32.
    """
    h, w = linear.shape[:2]
    if reformat.fit == "stretch":
        width, height = reformat.width, reformat.height
    elif reformat.fit == "none":
        width, height = w, h
    else:
        pick = min if reformat.fit == "pad" else max
        scale = pick(reformat.width / w, reformat.height / h)
        width, height = max(1, round(w * scale)), max(1, round(h * scale))
    scaled = _resize(linear, width, height)
    canvas = np.zeros((reformat.height, reformat.width, linear.shape[2]), np.float32)
    # Centred: a positive offset leaves a border, a negative one crops.
    x, y = (reformat.width - width) // 2, (reformat.height - height) // 2
    cw, ch = min(width, reformat.width), min(height, reformat.height)
    canvas[max(y, 0):max(y, 0) + ch, max(x, 0):max(x, 0) + cw] = \
        scaled[max(-y, 0):max(-y, 0) + ch, max(-x, 0):max(-x, 0) + cw]
    return canvas


def video_size(video: Path) -> tuple[int, int] | None:
    """The clip's decoded frame size as (width, height), or None where no frame decodes."""
    capture = cv2.VideoCapture(str(video))
    try:
        ok, bgr = capture.read() if capture.isOpened() else (False, None)
        return (bgr.shape[1], bgr.shape[0]) if ok else None
    finally:
        capture.release()


def _same_import(path: Path, colourspace: str, attributes: dict[str, str | float]) -> None:
    """An existing plate frame is kept (a rerun fills only the missing ones) only when it
    was imported from the same clip with the same settings; anything else there is
    somebody's plate, which is never overwritten and must not pass for this clip's."""
    header = read_header(path)
    wanted = {PREFIX + "colourspace": colourspace, **{PREFIX + k: v for k, v in attributes.items()}}
    found = {k: header.attribute(k) for k in wanted}
    differ = [k for k in wanted if found[k] != wanted[k]
              and not (isinstance(wanted[k], float) and isinstance(found[k], float)
                       and abs(found[k] - wanted[k]) < 1e-4)]
    if differ:
        k = differ[0]
        raise MediaError(str(path), f"no frame there, or one imported with {k} = {wanted[k]!r}",
                         f"an existing frame with {k} = {found[k]!r}",
                         "plates are never overwritten: import into another folder or pattern")


def video_to_plates(video: Path, seq: FrameSequence, *, colour: ColourConfig, colourspace: str,
                    first_frame: int = 1001, max_frames: int | None = None, source_space: str = SRGB,
                    reformat: Reformat | None = None,
                    progress: ProgressFn | None = None) -> list[int]:
    """Decode an sRGB video clip and write it as a log-encoded half EXR plate sequence.

    Frames already on disk are kept when the same clip made them with the same settings (a
    rerun fills only missing ones); another plate there is refused, never overwritten. Each frame records
    the clip it came from (``vfx_double/source``) and its frame rate (``vfx_double/fps``,
    for the shot's ``plate.fps``). Returns the frames.

    With ``reformat`` each frame is scaled in scene-linear light: the 8-bit sRGB frame is
    decoded to float ACEScg (``WORKING``), reformatted there (area filter to shrink, cubic
    to enlarge, clamped at 0), then encoded to ``colourspace``. Filtering the 8-bit display
    or the log values instead would average code values, not light, darkening fine bright
    detail. Borders are linear black, so a log plate stores its colourspace's black code
    (0.0928 in LogC3), a linear one 0. The data window is the whole canvas and the step is
    recorded as ``vfx_double/reformat``. Without it the frame goes straight from
    ``source_space`` to ``colourspace``, as it always has.
    """
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise MediaError(str(video), "a video file OpenCV's FFmpeg can decode",
                         "a file that does not open", "check the path and the codec")
    fps = _rate(capture)
    attributes: dict[str, str | float] = {"source": video.name}
    if fps is not None:
        attributes["fps"] = fps
    existing = set(seq.existing())
    written: list[int] = []
    try:
        index = 0
        while max_frames is None or index < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            frame = first_frame + index
            index += 1
            written.append(frame)
            srgb = bgr[:, :, ::-1].astype(np.float32) / 255.0
            if reformat is not None:
                attributes["reformat"] = reformat.describe(srgb.shape[1], srgb.shape[0])
            if frame in existing:
                _same_import(seq.path(frame), colourspace, attributes)
                continue
            if reformat is None:
                encoded = colour.convert(srgb, source_space, colourspace)
            else:
                linear = reformat_frame(colour.convert(srgb, source_space, WORKING), reformat)
                encoded = colour.convert(linear, WORKING, colourspace, out=linear)
            write_plate(seq.path(frame), encoded, colourspace, attributes)
            if progress:
                progress(1)
    finally:
        capture.release()
    if not written:
        raise MediaError(str(video), "at least one decodable frame", "none",
                         "check the file is a video and not empty")
    return written
