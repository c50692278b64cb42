"""The project's shape, checked so that it stays: the libraries apart from the commands, the
file-reading commands free of torch, functions short enough to read."""

import ast
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PACKAGE = os.path.join(ROOT, "detectron2_tubes")
LIBRARIES = ("detectron2_tubes", "posetrack_core")
MAX_LINES = 60


def _sources(*packages):
    return sorted(
        p
        for pkg in packages
        for p in glob.glob(os.path.join(ROOT, pkg, "**", "*.py"), recursive=True)
    )


def _imported_modules(path):
    """Absolute names of the modules a file imports (relative imports resolved)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    here = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level]
                yield ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.module


def test_libraries_have_no_commands_and_do_not_print():
    """No ``main``, no ``print``, no ``__main__`` block in a library module: the commands are in
    tubes_cli, and a library reports through logging, return values and exceptions."""
    found = []
    for path in _sources(*LIBRARIES):
        with open(path) as f:
            source = f.read()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "main":
                found.append(f"{path}: def main")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                found.append(f"{path}:{node.lineno}: print")
        if re.search(r"^if __name__ == .__main__.:", source, re.M):
            found.append(f"{path}: __main__ block")
    assert found == []


def test_imports_go_one_way():
    """tubes_cli -> detectron2_tubes -> posetrack_core, never back; benches import libraries
    only; posetrack_core imports neither torch nor Detectron2."""
    bad = []
    for pkg, banned in (
        ("posetrack_core", ("torch", "torchvision", "detectron2", "detectron2_tubes", "tubes_cli")),
        ("detectron2_tubes", ("tubes_cli",)),
        ("bench", ("tubes_cli",)),
    ):
        for path in _sources(pkg):
            for mod in _imported_modules(path):
                if mod and mod.split(".")[0] in banned:
                    bad.append(f"{os.path.relpath(path, ROOT)} imports {mod}")
    assert bad == []


def test_onnxruntime_stays_optional():
    """onnxruntime (an optional dependency) is imported by the export code and its tests only."""
    users = sorted(
        os.path.relpath(path, ROOT)
        for path in _sources(*LIBRARIES, "tubes_cli", "bench", "tests")
        if any(m and m.split(".")[0] == "onnxruntime" for m in _imported_modules(path))
    )
    allowed = {"detectron2_tubes/export.py", "tubes_cli/export.py", "tests/test_export.py"}
    assert "detectron2_tubes/export.py" in users and set(users) <= allowed, users


def test_file_reading_commands_start_without_torch():
    """eval_posetrack, eval_mot and link (without the CNN and LSTM costs) read files only: they
    must not pay for torch and Detectron2 (about 3 s here), while ``import detectron2_tubes``
    still registers everything."""
    code = (
        "import sys\n"
        "import tubes_cli.eval_posetrack, tubes_cli.eval_mot, tubes_cli.link\n"
        "heavy = ('torch', 'detectron2', 'detectron2_tubes', 'pandas')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"
    p = subprocess.run(
        [sys.executable, "-c", "import sys, detectron2_tubes; from detectron2.data import "
         "DatasetCatalog; from detectron2.modeling import META_ARCH_REGISTRY; "
         "print('posetrack_synth_val' in DatasetCatalog.list(), 'TubeRCNN' in META_ARCH_REGISTRY)"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert p.stdout.split() == ["True", "True"], p.stderr


def _code_lines(node) -> int:
    """A function's lines without its docstring."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant):
        if isinstance(first.value.value, str):
            lines -= first.end_lineno - first.lineno + 1
    return lines


def _long_functions(path):
    with open(path) as f:
        source = f.read()
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        reason = start >= 2 and lines[start - 2].strip().startswith("# long:")
        if _code_lines(node) > MAX_LINES and not reason:
            yield f"{os.path.relpath(path, PACKAGE)}:{node.lineno} {node.name} ({_code_lines(node)})"


def test_no_function_in_the_package_is_over_60_lines_without_a_reason():
    """Docstrings aside; a longer function says why in a "# long: ..." line above it."""
    paths = _sources(*LIBRARIES, "tubes_cli")
    assert len(paths) > 60
    assert [f for p in sorted(paths) for f in _long_functions(p)] == []


def test_the_length_check_finds_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "m.py").write_text(f'def f():\n    """Doc."""\n{body}\n')
    assert [f.split(" ")[1] for f in _long_functions(str(tmp_path / "m.py"))] == ["f"]
    (tmp_path / "m.py").write_text(f'# long: a reason\ndef f():\n    """Doc."""\n{body}\n')
    assert list(_long_functions(str(tmp_path / "m.py"))) == []
