"""The embedded demo shot and the plate builder that also turns real clips into EXR plates."""
