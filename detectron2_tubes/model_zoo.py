"""The project's configs by name, from a source checkout or an installed package.

``get_config_file("quick_schedules/tube_rcnn_R18_T3_synth.yaml")`` gives the path of
``configs/quick_schedules/tube_rcnn_R18_T3_synth.yaml``: the repository's ``configs/`` in a
source checkout (or an editable install), else the copy that ``setup.py`` installs with the
package as ``detectron2_tubes/configs/``. As Detectron2's ``model_zoo.get_config_file``.
"""

import os

__all__ = ["get_config_file", "CONFIG_ROOTS"]

_HERE = os.path.dirname(os.path.abspath(__file__))
# Installed package data first, then the checkout the package was imported from.
CONFIG_ROOTS = (os.path.join(_HERE, "configs"), os.path.join(os.path.dirname(_HERE), "configs"))


def get_config_file(config_path: str) -> str:
    """Absolute path of a config given relative to ``configs/``."""
    for root in CONFIG_ROOTS:
        path = os.path.join(root, config_path)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"config {config_path!r} not found under {' or '.join(CONFIG_ROOTS)}")
