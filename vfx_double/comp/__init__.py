"""Compositing: put the rendered face back over the plate.

The pure pixel operations live in one module each and work on plate-space crops around
the face: ``matte`` (erode, feather and the landmark hull that bounds the model's mask),
``colour_match`` (per-shot colour statistics measured in ACEScct, smoothed over frames
without lag, and applied to the element), ``detail`` (the plate's own fine detail kept
above the model's resolution) and ``grain`` (the plate's grain measured away from the
face and synthesised over the element). The stage that reads plates and renders
and writes the comp calls them; none of them touches files.
"""
