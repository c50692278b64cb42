"""The install: what setup.py asks for, the installer's import check, Detectron2's model zoo
without pkg_resources."""

import ast
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import check_install  # noqa: E402


def _install_requires():
    tree = ast.parse(open(os.path.join(ROOT, "setup.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            return [ast.literal_eval(e) for e in node.value.elts]
    raise AssertionError("setup.py has no install_requires")


def test_no_upper_pins_and_no_motmetrics():
    requires = _install_requires()
    names = {r.split(";")[0].split("<")[0].split(">")[0].split("=")[0].strip() for r in requires}
    assert {"numpy", "opencv-python", "scipy", "trackeval", "torch"} <= names
    assert "motmetrics" not in names and "setuptools" not in names
    for r in requires:
        assert "<" not in r.split(";")[0] and "==" not in r, f"an upper pin: {r}"


def test_the_import_check_passes_here_and_names_what_is_missing(monkeypatch):
    assert check_install.problems(ROOT) == []
    monkeypatch.setattr(
        check_install, "IMPORTS", [("numpy", "numpy"), ("no_such_module_x", "no-such-package")]
    )
    (line,) = check_install.problems(ROOT)
    assert line.startswith("`import no_such_module_x` fails (ModuleNotFoundError")
    assert line.endswith("install no-such-package")


def test_detectron2_model_zoo_imports_after_detectron2_tubes():
    # setuptools 82 and later have no pkg_resources, which Detectron2's model zoo imports: the
    # shim in detectron2_tubes/utils/compat.py, visible to that import only.
    code = (
        "import importlib.util, os, sys\n"
        "had = importlib.util.find_spec('pkg_resources') is not None\n"
        "import detectron2_tubes\n"
        "from detectron2 import model_zoo\n"
        "path = model_zoo.get_config_file('COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x.yaml')\n"
        "assert os.path.isfile(path), path\n"
        "assert had or 'pkg_resources' not in sys.modules, 'the stand-in stayed'\n"
        "print('ok', had)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok")
