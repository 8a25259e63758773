"""Render: the trained model over the plate, written as face elements (:mod:`.stage`)."""
