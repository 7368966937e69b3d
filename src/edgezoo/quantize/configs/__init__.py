"""Quantization configs shipped with edgezoo (YAML, read with importlib.resources)."""
