"""FaceElement.1: the face element, one EXR per frame, that render writes and comp (and the
Nuke node) read. The format lives here once; the writer is ``vfx_double.render`` and the
reader ``vfx_double.comp.element``.

- Channels ``R, G, B`` (ACEScg, premultiplied by ``A``), ``A`` (the rendered crop's
  coverage) and ``matte`` (the face matte), half float.
- Data window: the crop's box on the plate; display window: the plate's.
- Header attributes, each under :data:`PREFIX`: ``schema``, ``licenceId``, ``modelHash``,
  ``configHash``, ``synthetic`` (1), ``colourspace``, ``source``, ``frame``, ``face``
  (0 / 1), and on a frame with a face ``matrix`` (plate -> crop, 6 floats), ``cropSize``
  and ``resolution`` (the model's).
"""

from __future__ import annotations

#: every attribute this tool writes into an EXR header starts with this
PREFIX = "vfx_double/"
SCHEMA = ("FaceElement", 1)
#: the schema as written in the header
SCHEMA_TAG = f"{SCHEMA[0]}.{SCHEMA[1]}"
CHANNELS = ("R", "G", "B", "A", "matte")
