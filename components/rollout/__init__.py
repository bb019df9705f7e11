"""Rolling changes: one node at a time, in the model's order, each gated on its own health."""
