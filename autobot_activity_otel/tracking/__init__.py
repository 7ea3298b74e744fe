"""Explicit tracking functions with the seed design's names and parameters."""
