"""detectron2_tubes: Detect-and-Track (Girdhar et al., CVPR 2018) as a Detectron2 extension.

Importing the package registers its datasets and model components with Detectron2.
"""

import warnings

from .utils.compat import import_detectron2_model_zoo

import_detectron2_model_zoo()  # before anything else of Detectron2's: see utils/compat.py

with warnings.catch_warnings():
    # fvcore and Detectron2 call torch.jit.script at import, deprecated since torch 2.10: not
    # the user's business, and hidden only while this package imports them.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")
    # registers the datasets, the model components, the tracker head:
    from . import data, modeling, tracking  # noqa: F401
    from .checkpoint.inflating import InflatingCheckpointer
    from .config import add_tubes_config

__version__ = "0.1.0"

# The model's parts, data and tracking live in their subpackages (detectron2_tubes.modeling,
# .structures, .data, .engine, .tracking, .evaluation); the numpy half in posetrack_core.
__all__ = ["add_tubes_config", "InflatingCheckpointer"]
