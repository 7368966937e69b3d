"""Quantize: a float artifact to an int8 one, with a config per model family and a fidelity report.

Takes a float artifact and calibration images; gives an int8 artifact whose card records the config,
the calibration and how far int8 strays from float. ``config`` reads the YAML configs in
``configs/``; ``calibration`` and ``ranges`` choose activation ranges; ``frontend`` puts the NV12/RGB
input conversion inside the model; ``graph`` does the ONNX Runtime / NNCF graph work and ``biascorr``
its bias correction; ``fidelity`` measures the result; ``api`` is the whole stage as one call.
"""

from edgezoo._lazy import lazy_api

_API = {
    "quantize_artifact": "api",
    "Outcome": "api",
    "load_config": "config",
    "QuantConfig": "config",
    "packaged_configs": "config",
    "calibration_set": "calibration",
}
__all__ = sorted(_API)
__getattr__ = lazy_api(__name__, _API)
