"""Runtime: run an artifact on an engine (ONNX Runtime, OpenVINO, PyTorch eager) and predict.

Takes an artifact path or model name; gives sessions with one interface (``engines``) and top-k
predictions for images or frames (``predict``), and side-by-side timing of several sessions
(``timing``). Knows nothing of quantization or benchmarking.
"""

from edgezoo._lazy import lazy_api

_API = {
    "open_session": "engines",
    "available_engines": "engines",
    "default_engine": "engines",
    "SessionOptions": "engines",
    "resolve_artifact": "engines",
    "Predictor": "predict",
    "interleaved_ms": "timing",
}
__all__ = sorted(_API)
__getattr__ = lazy_api(__name__, _API)
