"""Evaluate: Top-1/Top-5 of float and int8 artifacts on a labelled image set.

Takes artifacts and an image folder (ImageNet val layouts, class folders, label files:
``datasets``); gives accuracy and per-image predictions (``accuracy``), computed shard by shard
(``shards``) on this machine or on Ray workers (``ray_backend``).
"""

from edgezoo._lazy import lazy_api

_API = {
    "evaluate": "accuracy",
    "load_dataset": "datasets",
    "Dataset": "datasets",
    "ShardPredictor": "shards",
    "RayEvalOptions": "ray_backend",
    "predict_on_ray": "ray_backend",
}
__all__ = sorted(_API)
__getattr__ = lazy_api(__name__, _API)
