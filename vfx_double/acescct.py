"""ACEScct, the log encoding the network and the comp's colour maths work in.

ACEScct and ACEScg share the AP1 primaries, so converting between them is one curve per
channel (Academy S-2016-001): linear below ``2**-7``, ``(log2(lin) + 9.72) / 17.52`` above.
OpenColorIO gives the same numbers (tests check it); this closed form exists because the
comp applies it to small face regions many times per frame, where a processor call per
step costs more than the arithmetic, and augmentation needs it inside the data loader.
"""

from __future__ import annotations

import math

import numpy as np

SLOPE = 17.52
OFFSET = 9.72
TOE_LIN = 2.0 ** -7
TOE_CCT = 0.155251141552511
TOE_A = 10.5402377416545
TOE_B = 0.0729055341958355
#: ACEScct code of linear 0.18 (mid-grey).
MID_GREY = (math.log2(0.18) + OFFSET) / SLOPE
#: half float's largest value: decoding clips there so EXR writes stay finite.
HALF_MAX = 65504.0


def encode(linear: np.ndarray) -> np.ndarray:
    """Linear AP1 (ACEScg) -> ACEScct code values, any shape, float32."""
    lin = np.asarray(linear, dtype=np.float32)
    log = (np.log2(np.maximum(lin, np.float32(TOE_LIN))) + np.float32(OFFSET)) / np.float32(SLOPE)
    return np.where(lin <= TOE_LIN, np.float32(TOE_A) * lin + np.float32(TOE_B), log
                    ).astype(np.float32, copy=False)


def decode(code: np.ndarray) -> np.ndarray:
    """ACEScct code values -> linear AP1, any shape, float32, clipped at half max."""
    cct = np.asarray(code, dtype=np.float32)
    lin = np.exp2(np.minimum(cct, np.float32(2.0)) * np.float32(SLOPE) - np.float32(OFFSET))
    return np.where(cct <= TOE_CCT, (cct - np.float32(TOE_B)) / np.float32(TOE_A),
                    np.minimum(lin, np.float32(HALF_MAX))).astype(np.float32, copy=False)
