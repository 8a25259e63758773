"""Face tracking: detector and landmark backends, smoothing, alignment, faceset."""
