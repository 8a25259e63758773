"""vfx_double: licensed digital doubles for film and advertising VFX."""

__version__ = "0.1.0"
