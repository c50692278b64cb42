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
    only; posetrack_core and its tests import neither torch nor Detectron2."""
    bad = []
    for pkg, banned in (
        ("posetrack_core", ("torch", "torchvision", "detectron2", "detectron2_tubes", "tubes_cli")),
        ("detectron2_tubes", ("tubes_cli",)),
        ("bench", ("tubes_cli",)),
        # the torch-free run (make test-torch-free) is this one folder
        (os.path.join("tests", "posetrack_core"), ("torch", "detectron2", "detectron2_tubes")),
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
    allowed = {"detectron2_tubes/export.py", "tubes_cli/export.py", "tests/detectron2_tubes/test_export.py"}
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


MAX_FILE_LINES = {"posetrack_core": 420, "detectron2_tubes": 420, "tubes_cli": 200}


def long_files(root, limits=MAX_FILE_LINES):
    """Files over their package's line limit whose first lines give no "# long:" reason."""
    found = []
    for pkg, limit in limits.items():
        for path in _sources_under(root, pkg):
            with open(path) as f:
                lines = f.read().splitlines()
            reason = any(line.startswith("# long:") for line in lines[:30])
            if len(lines) > limit and not reason:
                found.append(f"{os.path.relpath(path, root)} ({len(lines)} lines, limit {limit})")
    return found


def _sources_under(root, pkg):
    return sorted(glob.glob(os.path.join(root, pkg, "**", "*.py"), recursive=True))


def test_no_file_is_over_its_limit():
    """A library file over 420 lines, a command over 200, does several jobs: split it, or say
    why not in a "# long:" line among its first 30."""
    assert long_files(ROOT) == []


def test_the_file_length_check_finds_a_long_file(tmp_path):
    (tmp_path / "tubes_cli").mkdir()
    (tmp_path / "tubes_cli" / "c.py").write_text("x = 1\n" * 201)
    assert long_files(str(tmp_path)) == ["tubes_cli/c.py (201 lines, limit 200)"]
    (tmp_path / "tubes_cli" / "c.py").write_text("# long: a reason\n" + "x = 1\n" * 201)
    assert long_files(str(tmp_path)) == []


# One home per name: each public name is importable from the module that defines it and from its
# package's __init__, nowhere else; private names stay inside their module.
FIRST_PARTY = ("posetrack_core", "detectron2_tubes", "tubes_cli")


def _modules(root, packages):
    """{dotted name: (path, syntax tree, is a package __init__)} of the packages' modules."""
    out = {}
    for pkg in packages:
        for path in sorted(glob.glob(os.path.join(root, pkg, "**", "*.py"), recursive=True)):
            parts = os.path.relpath(path, root)[:-3].split(os.sep)
            is_init = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_init else parts)
            with open(path) as f:
                out[name] = (path, ast.parse(f.read()), is_init)
    return out


def _source_module(name, is_init, node):
    """The absolute module an ``ImportFrom`` reads from."""
    if not node.level:
        return node.module
    base = name.split(".") if is_init else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _top_level(tree):
    """A module's statements, inside its top-level ``with``, ``if`` and ``try`` blocks too."""
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.With, ast.If, ast.Try)):
            todo[:0] = [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", [])]
            todo[:0] = [s for h in getattr(node, "handlers", []) for s in h.body]
        else:
            yield node


def _defined(tree):
    """Names a module's top level defines (functions, classes, assignments)."""
    names = set()
    for node in _top_level(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _all(tree):
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(getattr(t, "id", "") == "__all__" for t in targets):
            return [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    return []


def one_home_problems(root, packages=FIRST_PARTY, users=()):
    """``import *``; a name exported (``__all__``, or imported by a package's ``__init__``) from
    a module that does not define it, unless the exporter is a package whose own module
    defines it; a private name imported from another module, by the packages or ``users``."""
    mods = _modules(root, packages)
    problems = []
    for name, (path, tree, is_init) in mods.items():
        imported = {}
        for node in _top_level(tree):
            if isinstance(node, ast.ImportFrom):
                source = _source_module(name, is_init, node)
                for a in node.names:
                    imported[a.asname or a.name] = (source, a.name)
        exported = set(_all(tree))
        if is_init:  # what a package's __init__ imports from this project is exported too
            exported |= {n for n, (source, _) in imported.items() if source in mods}
        for n in sorted(exported - _defined(tree)):
            source, real = imported.get(n, (None, n))
            if f"{source}.{real}".startswith(name + ".") and f"{source}.{real}" in mods:
                continue  # a submodule of this package
            own = source is not None and source.startswith(name + ".")
            if not (own and is_init and source in mods and real in _defined(mods[source][1])):
                problems.append(f"{name} exports {n} (defined in {source or 'nowhere'})")
    users_mods = dict(mods)
    users_mods.update(_modules(root, users))
    for name, (path, tree, is_init) in users_mods.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _source_module(name, is_init, node)
            for a in node.names:
                if a.name == "*":
                    problems.append(f"{name}: from {source} import *")
                elif a.name.startswith("_") and not a.name.startswith("__"):
                    if (source or "").split(".")[0] in packages:
                        problems.append(f"{name} imports the private {a.name} from {source}")
    return problems


def test_every_name_has_one_home():
    assert one_home_problems(ROOT, users=("bench", "tests")) == []


def test_the_one_home_check_finds_each_kind_of_problem(tmp_path):
    pkg = tmp_path / "posetrack_core"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    pass\n\n\ndef _g():\n    pass\n")
    (pkg / "sub" / "__init__.py").write_text("from .b import h\n\n__all__ = ['h']\n")
    (pkg / "sub" / "b.py").write_text("def h():\n    pass\n")
    assert one_home_problems(str(tmp_path), packages=("posetrack_core",)) == []
    other = tmp_path / "detectron2_tubes"
    other.mkdir()
    (other / "__init__.py").write_text("from posetrack_core.a import f\n")  # another package's name
    (other / "c.py").write_text(
        "from posetrack_core.a import _g\nfrom posetrack_core.sub import *\n"
        "from posetrack_core.sub import h\n\n__all__ = ['h']\n"
    )
    found = one_home_problems(str(tmp_path), packages=("posetrack_core", "detectron2_tubes"))
    assert sorted(found) == [
        "detectron2_tubes exports f (defined in posetrack_core.a)",
        "detectron2_tubes.c exports h (defined in posetrack_core.sub)",
        "detectron2_tubes.c imports the private _g from posetrack_core.a",
        "detectron2_tubes.c: from posetrack_core.sub import *",
    ], found


def _import_edges(root, packages):
    """{module: modules it imports} among the packages' modules, every import counted (inside
    functions too: a lazy import still ties the two), each name followed through package
    ``__init__`` files to the module that defines it."""
    mods = _modules(root, packages)

    def home(module, name):
        """The module ``from module import name`` reads ``name`` from, through __init__ files."""
        seen = set()
        while module in mods and (module, name) not in seen:
            seen.add((module, name))
            if f"{module}.{name}" in mods:
                return f"{module}.{name}"
            path, tree, is_init = mods[module]
            if not is_init or name in _defined(tree):
                return module
            for node in _top_level(tree):
                if isinstance(node, ast.ImportFrom) and any(
                    (a.asname or a.name) == name for a in node.names
                ):
                    real = next(a.name for a in node.names if (a.asname or a.name) == name)
                    module, name = _source_module(module, True, node), real
                    break
            else:
                return module
        return module if module in mods else None

    edges = {}
    for name, (path, tree, is_init) in mods.items():
        if is_init:
            continue
        out = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _source_module(name, is_init, node)
                out.update(home(source, a.name) for a in node.names)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name in mods)
        out.discard(None)
        out.discard(name)
        edges[name] = {m for m in out if not mods[m][2]}  # a package's __init__ itself: no edge
    return edges


def _cycles(edges):
    """The strongly connected components with more than one member (Tarjan), each sorted."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def import_circles(root, packages=FIRST_PARTY):
    """Modules that import each other, directly or around a circle, and the same between the
    packages' parts (``posetrack_core.tracking``, ``detectron2_tubes.engine``, a top-level
    module): each circle as a sorted list."""
    edges = _import_edges(root, packages)

    def part(module):
        return ".".join(module.split(".")[:2])

    parts = {}
    for a, targets in edges.items():
        parts.setdefault(part(a), set()).update(part(b) for b in targets if part(b) != part(a))
    return _cycles(edges) + [["parts:"] + c for c in _cycles(parts)]


def test_no_import_circles():
    assert import_circles(ROOT) == []


def test_the_circle_check_finds_circles(tmp_path):
    pkg = tmp_path / "posetrack_core"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import h\n")
    (pkg / "sub" / "b.py").write_text("def h():\n    pass\n")
    (pkg / "a.py").write_text("from .sub import h\n")
    assert import_circles(str(tmp_path), ("posetrack_core",)) == []
    # a lazy import back, through the package's __init__: the two parts import each other
    (pkg / "sub" / "b.py").write_text("def h():\n    from ..a import g\n")
    (pkg / "a.py").write_text("from .sub import h\n\n\ndef g():\n    pass\n")
    assert import_circles(str(tmp_path), ("posetrack_core",)) == [
        ["posetrack_core.a", "posetrack_core.sub.b"],
        ["parts:", "posetrack_core.a", "posetrack_core.sub"],
    ]
    # within one part, through a third module
    (pkg / "sub" / "b.py").write_text("from .c import k\n\n\ndef h():\n    pass\n")
    (pkg / "sub" / "c.py").write_text("import posetrack_core.sub.d\n\n\ndef k():\n    pass\n")
    (pkg / "sub" / "d.py").write_text("from posetrack_core.sub import h\n")
    assert import_circles(str(tmp_path), ("posetrack_core",)) == [
        ["posetrack_core.sub.b", "posetrack_core.sub.c", "posetrack_core.sub.d"]
    ]
