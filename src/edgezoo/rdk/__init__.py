"""RDK: a ready ``hb_mapper`` workspace for D-Robotics boards (X5 ``bayes-e``, X3 ``bernoulli2``).

Takes a model (card, weights, quantization config) from the stages below; gives one folder with the
opset-11 ONNX, the board YAML (written by :mod:`edgezoo.quantize.rdk_yaml`), the calibration data in
the toolchain's binary format, the two scripts and a README (:mod:`workspace`).
"""

from edgezoo._lazy import lazy_api

_API = {
    "write_workspace": "workspace",
    "Workspace": "workspace",
}
__all__ = sorted(_API)
__getattr__ = lazy_api(__name__, _API)
