"""The production stack's AWS components."""
