"""Is everything detectron2_tubes needs importable, and is the package this checkout?

Run by scripts/install.sh (``python scripts/check_install.py ROOT``) before it installs anything
and after. Exit status 0 when all is there; otherwise one line per failed import, naming the
import, why it failed and the package that provides it, and exit status 1. ``--quiet`` prints
nothing (the installer's quick check).
"""

import importlib
import os
import sys
import warnings

# (import, pip package): everything the package, its commands and its test suite import.
IMPORTS = [
    ("numpy", "numpy"),
    ("scipy", "scipy"),
    ("cv2", "opencv-python"),
    ("pycocotools", "pycocotools"),
    ("fvcore", "fvcore"),
    ("omegaconf", "omegaconf"),
    ("trackeval", "trackeval"),
    ("onnx", "onnx"),
    ("onnxruntime", "onnxruntime"),
    ("pytest", "pytest"),
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("detectron2", "sal-detectron2 (scripts/install.sh installs it)"),
    ("detectron2_tubes", "detectron2_tubes (pip install -e .)"),
    ("posetrack_core", "detectron2_tubes (pip install -e .)"),
    ("tubes_cli", "detectron2_tubes (pip install -e .)"),
]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def problems(root: str):
    """The lines that say what is missing (empty when nothing is)."""
    out = []
    for name, package in IMPORTS:
        try:
            module = importlib.import_module(name)
        except Exception as e:  # any failure to import is a finding, named with its package
            out.append(f"`import {name}` fails ({_first_line(e)}): install {package}")
            continue
        if name == "torchvision":
            try:
                from torchvision.ops import nms  # noqa: F401  (fails when it does not fit torch)
            except Exception as e:
                out.append(
                    f"torchvision {module.__version__} does not fit the installed torch "
                    f"({_first_line(e)}): install the torchvision release made for it"
                )
        if name in ("detectron2_tubes", "posetrack_core", "tubes_cli"):
            here = os.path.dirname(os.path.dirname(os.path.abspath(module.__file__)))
            if not os.path.samefile(here, root):
                out.append(
                    f"{name} is imported from {here}, not from {root}: pip install -e {root}"
                )
    if "detectron2_tubes" in sys.modules:
        try:  # Detectron2's model zoo needs pkg_resources, or the shim detectron2_tubes installs
            from detectron2 import model_zoo  # noqa: F401
        except Exception as e:
            out.append(f"`from detectron2 import model_zoo` fails ({_first_line(e)})")
    return out


def main(argv):
    quiet = "--quiet" in argv
    root = [a for a in argv if a != "--quiet"][0]
    warnings.simplefilter("ignore")  # third-party import warnings are not what is asked here
    found = problems(os.path.abspath(root))
    if not quiet:
        for line in found:
            print(f"install: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
