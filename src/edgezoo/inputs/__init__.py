"""Inputs: images and camera frames in, the tensor a model or an artifact asks for out.

Takes image files (Pillow), raw NV12/I420 frames or arrays; gives the card's resize, crop and
normalization (``preprocess``), RGB <-> YUV conversion (``colour``), what an artifact's input wants
(``frames``) and the real photos that ship in PyPI packages (``samples``).
"""

from edgezoo._lazy import lazy_api

_API = {
    "prepare": "preprocess",
    "load_image": "preprocess",
    "resize_crop": "preprocess",
    "normalize": "preprocess",
    "rgb_to_nv12": "colour",
    "nv12_to_rgb": "colour",
    "read_frame": "frames",
    "spec_of": "frames",
    "to_model_input": "frames",
    "sample_photos": "samples",
    "default_photo": "samples",
    "write_photo_variants": "samples",
}
__all__ = sorted(_API)
__getattr__ = lazy_api(__name__, _API)
