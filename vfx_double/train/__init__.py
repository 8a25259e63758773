"""Training: faceset data, augmentation, the model and its training loop."""
