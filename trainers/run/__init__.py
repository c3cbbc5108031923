"""A run on disk and on screen: directory layout, atomic io, checkpoints, monitoring, metrics."""
