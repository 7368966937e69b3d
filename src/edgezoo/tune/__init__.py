"""Tune: choose the int8 recipe for one model by measuring candidates on the host at hand.

The shipped configs were measured on one ISA (their ``measured_on``) and some were confirmed on
others by this very search (``confirmed_on``); ``candidates`` lists the
shipped config and single-choice variants of it, ``search`` builds each one, times it here and
checks its fidelity on held-out images, and writes the fastest one that holds the bar as a config
file plus its artifact. Sits above quantize and bench/evaluate, below the pipeline (``edgezoo run``
tunes where the host's ISA is neither of those).
"""

from edgezoo._lazy import lazy_api

_API = {
    "tune": "search",
    "tune_artifact": "search",
    "TuneOptions": "search",
    "TuneResult": "search",
    "candidates": "candidates",
    "Recipe": "candidates",
}
__all__ = sorted(_API)
__getattr__ = lazy_api(__name__, _API)
