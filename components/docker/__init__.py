"""The dev stack: the model placed as containers on the local Docker engine."""
