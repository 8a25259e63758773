"""Nuke host code: the DigitalDouble node, .nk writer and TorchScript export.

Kept thin (see STYLE.md): the only package that may import ``nuke``; the core library
``vfx_double`` never does. Filled in by the render/comp and Nuke issues.
"""
