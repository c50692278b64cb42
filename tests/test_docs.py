"""Every shell command in the README and doc/ still parses: make targets exist, the commands'
flags exist, config files and keys exist, dataset names are registered, bench scripts exist and
take the flags given. The documents cannot rot without this test failing."""

import glob
import io
import os
import re
import shlex
from contextlib import redirect_stderr, redirect_stdout

import pytest
from detectron2.data import DatasetCatalog

import detectron2_tubes  # noqa: F401  (registers the datasets)
from detectron2_tubes.engine import setup_cfg

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOCS = ["README.md", *sorted(os.path.relpath(p, ROOT) for p in glob.glob(f"{ROOT}/doc/*.md"))]
_ASSIGN = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")


def _commands(doc):
    """(line, tokens) of each command in the document's ```bash blocks, continuation lines
    joined, comments dropped, simple VAR=value assignments substituted (a value made by $(...)
    leaves its variable unknown: tokens using it are not checked)."""
    text = open(os.path.join(ROOT, doc)).read()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        env = {}
        for n, line in enumerate(block.replace("\\\n", " ").splitlines()):
            line = line.strip()
            assign = _ASSIGN.match(line)
            if assign:
                value = assign.group(2)
                env[assign.group(1)] = None if "$(" in value else " ".join(shlex.split(value))
                continue
            # As the shell does: an unquoted $VAR splits into words, its quotes kept as text.
            tokens = []
            for t in shlex.split(line, comments=True):
                value = env.get(t[1:]) if t.startswith("$") else None
                tokens += value.split() if value is not None else [t]
            tokens = [t.strip("[]") for t in tokens]
            tokens = [t for t in tokens if t and not t.startswith("...")]
            if tokens:
                out.append((f"{doc}: {line[:80]}", tokens))
    return out


ALL = [c for doc in DOCS for c in _commands(doc)]


def _help(module):
    """The --help text of ``python -m tubes_cli.<module>``, in process."""
    import importlib

    main = importlib.import_module(f"tubes_cli.{module}").main
    buf = io.StringIO()
    with redirect_stdout(buf), redirect_stderr(io.StringIO()):
        with pytest.raises(SystemExit) as ex:
            main(["--help"])
    assert ex.value.code == 0
    return buf.getvalue()


def _check_config(tokens, where):
    """--config-file exists; KEY VALUE overrides merge; dataset names are registered."""
    if "--config-file" not in tokens:
        return
    config = tokens[tokens.index("--config-file") + 1]
    if "$" in config:
        return
    assert os.path.isfile(os.path.join(ROOT, config)), f"{where}: {config} does not exist"
    opts = [t for t in tokens if re.match(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$", t)]
    pairs = []
    for key in opts:
        value = tokens[tokens.index(key) + 1]
        if "$" not in value:
            pairs += [key, value]
    cfg = setup_cfg(os.path.join(ROOT, config), pairs)
    for name in list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST):
        assert name in DatasetCatalog.list(), f"{where}: dataset {name} is not registered"


def _check_flags(tokens, text, where):
    for t in tokens:
        if t.startswith("--") and "$" not in t:
            flag = t.split("=")[0]
            assert flag in text, f"{where}: {flag} is not an option"


@pytest.mark.parametrize("where, tokens", ALL, ids=[w for w, _ in ALL])
def test_documented_command_parses(where, tokens):
    makefile = open(os.path.join(ROOT, "Makefile")).read()
    if tokens[0] == "make":
        for target in tokens[1:]:
            if "=" not in target:
                assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"{where}: no {target}"
        return
    if tokens[0] not in ("python", "python3"):
        return  # apt-get, git, ...: not this project's
    args = tokens[1:]
    if args[:1] == ["train_net.py"] or args[:2] == ["-m", "tubes_cli.train_net"]:
        from detectron2.engine import default_argument_parser

        args = args[1:] if args[0] == "train_net.py" else args[2:]
        default_argument_parser().parse_args(args)  # exits on an unknown flag
        _check_config(args, where)
    elif args[:1] == ["-m"] and args[1].startswith("tubes_cli."):
        module = args[1][len("tubes_cli.") :]
        _check_flags(args[2:], _help(module), where)
        _check_config(args[2:], where)
    elif args[:1] == ["-m"] and args[1].startswith(("detectron2_tubes", "posetrack_core")):
        raise AssertionError(f"{where}: the commands are python -m tubes_cli.<command>")
    elif args and args[0].startswith("bench/"):
        path = os.path.join(ROOT, args[0])
        assert os.path.isfile(path), f"{where}: {args[0]} does not exist"
        _check_flags(args[1:], open(path).read(), where)
    # anything else (Detectron2's own tools, $SITE scripts) is not this project's


def test_the_documents_hold_commands():
    assert len(ALL) > 40
    assert any(tokens[:2] == ["make", "demo"] for _, tokens in ALL)
