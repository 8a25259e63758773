"""Image and file I/O: frame patterns, EXR sequences, atomic writes."""
