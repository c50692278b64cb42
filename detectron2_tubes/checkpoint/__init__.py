"""`InflatingCheckpointer`: load 2D checkpoints into 3D models (the paper's initialisation).

What it reads, and how each is mapped onto the model (one renaming table, `RENAME_RULES`):

- a Detectron2 checkpoint of the same model (resuming): loaded as it is;
- a stock Detectron2 keypoint R-CNN, FPN (``backbone.bottom_up.*``) or C4 (``roi_heads.res5.*``),
  like the COCO-trained R-18-FPN the authors' release started from: the ResNet into the
  backbone, res5 into the C4 box head, RPN, box predictor and keypoint head where shapes match;
- a Detectron (Caffe2) ``.pkl`` (``res2_0_branch2a_w``, ``conv_fcn1_w``...), renamed with
  Detectron2's own `convert_c2_detectron_names`, then as above;
- ImageNet ResNets: Detectron2/MSRA ``.pkl`` (``res2.0.conv1.weight``) and torchvision state dicts
  (``layer1.0.conv1.weight``), each checked against the input convention it was trained with.

Every file is read as data (`SafeDetectionCheckpointer`): ``.pkl`` through a restricted
unpickler, everything else through ``torch.load(weights_only=True)``; a file that would run
code when loaded is refused before anything in it runs.

The package: `safe` (reading files as data, saving atomically), `rename` (the names),
`inflation` (2D to 3D), `conventions` (the input weights were trained on), `inflating` (the
checkpointer that puts them together).
"""

from .conventions import INPUT_CONVENTIONS, convention_problems, input_record
from .inflating import InflatingCheckpointer, load_model
from .inflation import INFLATION_MODES, inflate_state, inflate_weight
from .rename import RENAME_RULES, convert_torchvision_resnet, rename_to_model
from .safe import CheckpointError, SafeDetectionCheckpointer

__all__ = [
    "InflatingCheckpointer",
    "load_model",
    "SafeDetectionCheckpointer",
    "CheckpointError",
    "inflate_weight",
    "inflate_state",
    "INFLATION_MODES",
    "convert_torchvision_resnet",
    "rename_to_model",
    "RENAME_RULES",
    "INPUT_CONVENTIONS",
    "input_record",
    "convention_problems",
]
