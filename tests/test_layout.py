"""The package's shape, checked so that it stays: functions short enough to read."""

import ast
import glob
import os

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "detectron2_tubes")
MAX_LINES = 60


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
    paths = glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True)
    assert len(paths) > 40
    assert [f for p in sorted(paths) for f in _long_functions(p)] == []


def test_the_length_check_finds_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "m.py").write_text(f'def f():\n    """Doc."""\n{body}\n')
    assert [f.split(" ")[1] for f in _long_functions(str(tmp_path / "m.py"))] == ["f"]
    (tmp_path / "m.py").write_text(f'# long: a reason\ndef f():\n    """Doc."""\n{body}\n')
    assert list(_long_functions(str(tmp_path / "m.py"))) == []
