"""All config keys detectron2_tubes adds to Detectron2's default config."""
from detectron2.config import CfgNode as CN


def add_tubes_config(cfg: CN) -> CN:
    """Add every detectron2_tubes key (with its default) to ``cfg`` in place and return it.

    Safe to call twice: keys already present keep their values.
    """
    _C = cfg
    if "CLIP" not in _C.INPUT:
        _C.INPUT.CLIP = CN()
    # T, the number of frames in a clip (the paper's T; 1 gives the 2D baseline).
    _C.INPUT.CLIP.setdefault("NUM_FRAMES", 3)
    # Distance in frames between consecutive frames of a clip (1 = adjacent frames).
    _C.INPUT.CLIP.setdefault("FRAME_STRIDE", 1)
    return cfg
