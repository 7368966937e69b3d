"""The zoo pipeline: ``run`` (export, quantize, bench, eval for one model, one results file) and
``table`` (the seeds' table and plot from a folder of results files).
"""

from edgezoo._lazy import lazy_api

_API = {
    "run": "runner",
    "RunOptions": "runner",
    "run_on_ray": "ray_backend",
    "read_results": "table",
    "markdown": "table",
    "plot": "table",
}
__all__ = sorted(_API)
__getattr__ = lazy_api(__name__, _API)
