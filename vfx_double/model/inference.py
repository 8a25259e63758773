"""The performer -> actor swap as a TorchScript-able module, for the Nuke export.

``SwapModule`` holds the *same* encoder, inter and actor-decoder modules as the
``FaceModel`` it is built from (no copy), so a script made after training carries the
trained weights, and the performer decoder and discriminator are left out of the export.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .networks import FaceModel


class SwapModule(nn.Module):
    """(B, 3, R, R) performer crop in ACEScct -> (B, 4, R, R): actor RGB (ACEScct) + mask.

    RGB is left unclamped: ACEScct above 1.0 is a legal highlight; the mask is in [0, 1].
    """

    def __init__(self, model: FaceModel) -> None:
        super().__init__()
        self.resolution = model.spec.resolution
        self.encoder = model.encoder
        self.inter, self.decoder = model.actor_path()

    def forward(self, x: Tensor) -> Tensor:
        r = self.resolution
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != r or x.shape[3] != r:
            raise ValueError("SwapModule input: expected (B, 3, " + str(r) + ", " + str(r)
                             + "), got " + str(list(x.shape)))
        rgb, mask = self.decoder(self.inter(self.encoder(x)))
        return torch.cat([rgb, mask], dim=1)


def script(model: FaceModel) -> torch.jit.ScriptModule:
    """TorchScript of the performer -> actor path of ``model``.

    The model has no dropout or normalisation layers, so train and eval mode compute the
    same thing; the shared modules' mode is left alone so a mid-training export does not
    flip the training model into eval mode.
    """
    return torch.jit.script(SwapModule(model))
