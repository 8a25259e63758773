"""The swap networks, their losses and the scriptable inference path."""
