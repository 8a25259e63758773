"""Header attribute types between Python values and OpenImageIO's TypeDesc: what type a
value is written as, the TypeDesc for a type name, and the name a read type goes by."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np
import OpenImageIO as oiio

from ..errors import MediaError

#: how OpenImageIO names an EXR box attribute when reading it, and the name it writes
_READ_TYPE_NAMES = {"vector2i[2]": "box2i", "float2[2]": "box2f"}


def read_type_name(desc: oiio.TypeDesc) -> str:
    """The type name of an attribute as read, in the form :func:`typedesc` takes back."""
    return _READ_TYPE_NAMES.get(str(desc), str(desc))


def infer_type(name: str, value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bool, int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    shape = np.shape(value)
    if shape in ((4, 4), (16,)):
        return "matrix"
    if shape in ((3, 3), (9,)):
        return "matrix33"
    raise MediaError(f"attribute {name}", "a str, int, float or 3x3/4x4 matrix, or a type_str",
                     f"{type(value).__name__} of shape {shape}",
                     "pass type_str, e.g. 'float[2]' or 'box2i'")


@lru_cache(maxsize=1)
def _type_names() -> dict[str, oiio.TypeDesc]:
    # str(TypeDesc) is not always parseable by TypeDesc(str): "vector2i[2]" (how a box2i
    # reads back), "rational2i" and "vectori" are not. Build the reverse table once.
    B, A, V = oiio.BASETYPE, oiio.AGGREGATE, oiio.VECSEMANTICS
    table: dict[str, oiio.TypeDesc] = {}
    for base in (B.INT32, B.UINT32, B.INT64, B.HALF, B.FLOAT, B.DOUBLE, B.STRING):
        for agg in A.__members__.values():
            for sem in V.__members__.values():
                desc = oiio.TypeDesc(base, agg, sem, 0)
                table.setdefault(str(desc), desc)
    return table


def typedesc(type_str: str, name: str) -> oiio.TypeDesc:
    desc = oiio.TypeDesc(type_str)
    if desc.basetype != oiio.BASETYPE.UNKNOWN:
        return desc
    match = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", type_str)
    base = _type_names().get(match.group(1)) if match else None
    if base is None:
        raise MediaError(f"attribute {name}", "an OpenImageIO type name such as float, int, "
                         "string, matrix, float[2], box2i", repr(type_str), "fix the type")
    return oiio.TypeDesc(base.basetype, base.aggregate, base.vecsemantics, int(match.group(2) or 0))
