"""Provenance of what vfx_double makes, below the stages: the review frames' watermark,
C2PA manifests on movies, signed sidecar manifests for EXR sequences, and ``verify``."""
