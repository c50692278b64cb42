"""Read model files and saved predictions as data: loading a file never runs code from it.

A pickle names Python callables that the loader calls to rebuild its objects; plain
``pickle.load`` calls whatever the file names (``os.system`` included). The files this project
reads hold plain data, so:

- ``.pkl`` files (Detectron/Caffe2's ``blobs``, Detectron2's model zoo and ImageNet converters,
  saved raw predictions of older versions) go through `RestrictedUnpickler`, which admits only
  the callables listed in `ALLOWED_GLOBALS` (containers, numbers, strings, bytes, numpy arrays
  and dtypes) and refuses any other before anything in the file has run;
- ``.pth`` files go through ``torch.load(weights_only=True)``, PyTorch's own restricted
  unpickler (tensors, containers, numbers, strings).

Python's ``pickle.Unpickler.find_class`` is the documented way to restrict what a pickle may
build; no library does this for numpy-holding pickles, so the allow-list is written here.
"""

import _compat_pickle
import importlib
import io
import pickle
import re
import warnings
from typing import Any

from posetrack_core.errors import UserError, message_lines

__all__ = [
    "ALLOWED_GLOBALS",
    "RestrictedUnpickler",
    "UnsafeFileError",
    "UnreadableFileError",
    "load_pickle",
    "torch_load",
]

# (module, name) of every callable a data pickle may use to rebuild its objects.
ALLOWED_GLOBALS = frozenset(
    {
        ("collections", "OrderedDict"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        # bytes in protocol 2 pickles written by Python 3: _codecs.encode(text, "latin1")
        ("_codecs", "encode"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # numpy arrays and scalars (numpy < 2 writes numpy.core, numpy 2 numpy._core)
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        # numpy dtypes pickled by numpy 2 (np.dtypes.Float32DType, ...)
        *(
            ("numpy.dtypes", f"{kind}DType")
            for kind in (
                "Bool",
                "Int8",
                "UInt8",
                "Int16",
                "UInt16",
                "Int32",
                "UInt32",
                "Int64",
                "UInt64",
                "Float16",
                "Float32",
                "Float64",
                "LongDouble",
                "Complex64",
                "Complex128",
                "Bytes",
                "Str",
            )
        ),
    }
)


class UnsafeFileError(UserError, ValueError):
    """A file that would build something other than data when loaded (one line; nothing in the
    file was run)."""


class UnreadableFileError(UserError, ValueError):
    """A file that is empty, truncated, corrupt or not of the expected kind (one line)."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only what `ALLOWED_GLOBALS` names; any other global raises
    `UnsafeFileError` before it is imported or called."""

    def __init__(self, file, *, source: str = "<pickle>", **kwargs):
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 pickles name Python 2 modules (__builtin__, copy_reg): the stock unpickler
        # maps them inside its own find_class, which this one replaces. (Python 3 never writes
        # these names, so mapping them whatever the protocol changes nothing else.)
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafeFileError(
                f"{self.source}: refused to load: it would call {module}.{name}, which is not "
                f"data (a .pkl file may hold only dicts, lists, tuples, strings, bytes, numbers "
                f"and numpy arrays); nothing in the file was run"
            )
        return getattr(importlib.import_module(module), name)


def load_pickle(path: str, *, encoding: str = "latin1") -> Any:
    """The data in the pickle file ``path``, read by `RestrictedUnpickler`. ``latin1`` reads
    Python 2 pickles (Caffe2's) and numpy arrays in them as their writers meant.

    Raises `UnsafeFileError` for a file that would build anything else, `UnreadableFileError`
    for a missing, empty, truncated or corrupt one (``OSError`` when it cannot be read).
    """
    return _unpickle(_read_bytes(path), path, encoding)


def _unpickle(data: bytes, path: str, encoding: str = "latin1") -> Any:
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=path, encoding=encoding).load()
    except UnsafeFileError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        UnicodeDecodeError,
        MemoryError,
    ) as e:
        reason = (
            "empty or truncated"
            if isinstance(e, EOFError) or not data
            else message_lines(e, limit=1)
        )
        raise UnreadableFileError(f"{path}: not a readable pickle ({reason})") from None


_ZIP = b"PK\x03\x04"
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def torch_load(path: str, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors, containers, numbers and strings only.

    Raises `UnsafeFileError` when the file would build anything else (nothing in it is run),
    `UnreadableFileError` when it is missing, empty, truncated or not a PyTorch file.
    """
    import torch

    data = _read_bytes(path)
    try:
        with warnings.catch_warnings():
            # plain pickles of a newer protocol: torch warns, then fails; handled below
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Weights only load failed" in text and not data.startswith(_ZIP):
            # Not torch.save's zip format but a plain pickle (whose newer opcodes torch's
            # weights-only unpickler may not know): read it as a data pickle, or refuse it.
            return _unpickle(data, path)
        if "Weights only load failed" in text:
            found = _GLOBAL.search(text)
            what = (
                f"call {found.group(1)}" if found else f"do more than build data ({_reason(text)})"
            )
            raise UnsafeFileError(
                f"{path}: refused to load: it would {what}, which torch.load(weights_only=True) "
                f"does not admit (tensors, containers, numbers and strings only); nothing in "
                f"the file was run"
            ) from None
        raise UnreadableFileError(
            f"{path}: not a readable PyTorch file ({message_lines(e, limit=1)})"
        ) from None
    except Exception as e:  # torch's parser fails on garbage with any type (IndexError, ...)
        reason = (
            "empty or truncated"
            if isinstance(e, EOFError) or not data
            else message_lines(e, limit=1)
        )
        raise UnreadableFileError(f"{path}: not a readable PyTorch file ({reason})") from None


def _reason(text: str) -> str:
    """torch's own reason in a weights-only refusal: the line after its generic preamble."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else lines[0]


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise UnreadableFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UnreadableFileError(f"{path}: is a folder, not a file") from None
