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
# log2(x) = ln(x) / ln 2 and 2**x = e**(x ln 2), folded into the curve's constants: NumPy's
# float32 log and exp are vectorised (AVX2) and log2 and exp2 are not; on a 560x640 face
# box they take 5.1 and 3.8 ms against 9.3 and 8.6 ms. The results differ from log2/exp2
# by at most 2.5e-7 relative (a float32 ulp or two), far below half float's 4.9e-4.
_LN2 = math.log(2.0)
_ENCODE_SCALE = np.float32(1.0 / (_LN2 * SLOPE))
_DECODE_SCALE = np.float32(SLOPE * _LN2)
_DECODE_OFFSET = np.float32(OFFSET * _LN2)


def encode(linear: np.ndarray) -> np.ndarray:
    """Linear AP1 (ACEScg) -> ACEScct code values, any shape, float32."""
    lin = np.asarray(linear, dtype=np.float32)
    # One buffer worked in place and the toe written over where it applies: the same
    # float32 operations as a np.where of both branches, without the temporaries (the comp
    # runs this on the face box several times a frame).
    out = np.maximum(lin, np.float32(TOE_LIN), out=np.empty_like(lin))
    np.log(out, out=out)
    out *= _ENCODE_SCALE
    out += np.float32(OFFSET / SLOPE)
    toe = lin <= TOE_LIN
    out[toe] = np.float32(TOE_A) * lin[toe] + np.float32(TOE_B)
    return out


def decode(code: np.ndarray) -> np.ndarray:
    """ACEScct code values -> linear AP1, any shape, float32, clipped at half max."""
    cct = np.asarray(code, dtype=np.float32)
    out = np.minimum(cct, np.float32(2.0), out=np.empty_like(cct))
    out *= _DECODE_SCALE
    out -= _DECODE_OFFSET
    np.exp(out, out=out)
    np.minimum(out, np.float32(HALF_MAX), out=out)
    toe = cct <= TOE_CCT
    out[toe] = (cct[toe] - np.float32(TOE_B)) / np.float32(TOE_A)
    return out
