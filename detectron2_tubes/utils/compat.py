"""Detectron2 beside today's packages: the one shim at that boundary.

``detectron2/model_zoo/model_zoo.py`` does ``import pkg_resources`` for one call,
``pkg_resources.resource_filename("detectron2.model_zoo", "configs/...")``. setuptools removed
``pkg_resources`` in release 82, so on a current environment ``from detectron2 import
model_zoo`` fails. Rather than pin an old setuptools into the user's environment, importing
this package imports Detectron2's model zoo once with a stand-in for that one function; the
stand-in is visible only while that module imports (``sys.modules`` is restored afterwards), so
no other code sees a partial ``pkg_resources``. Where setuptools still has it, nothing is done.
"""

import importlib
import importlib.util
import os
import sys
import types

__all__ = ["import_detectron2_model_zoo"]


def _resource_filename(package: str, resource: str) -> str:
    """``pkg_resources.resource_filename`` for a package installed as files (Detectron2 is)."""
    spec = importlib.util.find_spec(package)
    return os.path.join(os.path.dirname(spec.origin), resource)


def import_detectron2_model_zoo() -> None:
    """Import ``detectron2.model_zoo``, giving it ``resource_filename`` where setuptools no
    longer provides ``pkg_resources``."""
    if "detectron2.model_zoo" in sys.modules or importlib.util.find_spec("pkg_resources"):
        return
    stand_in = types.ModuleType("pkg_resources", "detectron2_tubes' stand-in for one function")
    stand_in.resource_filename = _resource_filename
    sys.modules["pkg_resources"] = stand_in
    try:
        importlib.import_module("detectron2.model_zoo")
    finally:
        if sys.modules.get("pkg_resources") is stand_in:
            del sys.modules["pkg_resources"]
