"""Files: every writer writes a temporary sibling and renames it, so an interrupted job leaves no half file;
every reader names the file it could not use and says how to get a good one.

Result files are read as data only: tensor files through ``torch.load(weights_only=True)`` (plain
containers of tensors, numbers and strings, the only things lossbarcode writes), never by
unpickling arbitrary objects, so a file received from someone else cannot run code.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pickle
import shlex
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Calls ``write(binary file)`` on a temporary sibling of ``path``, then renames it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are shared like any file
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class ResultFileError(Exception):
    """A file of an earlier step that cannot be used; the message names it and says what to do."""


#: The rule that writes each kind of result, by the folder that holds it.
WRITERS = {"minima": "train_minimum (or embed_minimum)", "curves": "fit_curve", "triangles": "fit_triangle",
           "toy": "toy"}


def unusable(path: str | os.PathLike, problem: str, rule: str | None = None) -> ResultFileError:
    """The error for a result file that cannot be used: which file, why, which job wrote it (``rule``,
    else known from the folder), what to do."""
    path = Path(path)
    rule = rule or ("barcode" if path.name == "barcode.json" else WRITERS.get(path.parent.name))
    writer = f"the workflow's {rule} job" if rule else "an earlier step"
    return ResultFileError(
        f"{path}: {problem}. It was written by {writer}: delete it and run snakemake again, or run "
        f"snakemake with --forcerun {shlex.quote(str(path))}, to write it anew."
    )


def _jsonable(obj: Any) -> Any:
    """Plain JSON: infinities as the strings "inf"/"-inf", NaN refused (it would hide a bug)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float):
        if math.isnan(obj):
            raise ValueError("refusing to write NaN to a results file")
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
    return obj


def _restore(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _restore(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_restore(v) for v in obj]
    if obj in ("inf", "-inf"):
        return float(obj)
    return obj


def write_csv(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[dict]) -> Path:
    """Rows (dicts keyed by ``columns``) as CSV under a header line, every number as Python prints it."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, lambda f: f.write(text.getvalue().encode()))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(_jsonable(obj), indent=1, allow_nan=False) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))


def read_json(path: str | os.PathLike) -> Any:
    """The JSON file ``path`` (infinities restored); ``ResultFileError`` naming it if it is missing or bad."""
    try:
        text = Path(path).read_bytes().decode()
    except FileNotFoundError:
        raise unusable(path, "the file is missing") from None
    except UnicodeDecodeError:
        raise unusable(path, "not a JSON file (it is not even text)") from None
    try:
        return _restore(json.loads(text))
    except json.JSONDecodeError as error:
        raise unusable(path, f"not valid JSON, truncated or edited ({error})") from None


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def _numbers(value) -> bool:
    return isinstance(value, list) and all(map(_number, value))


@dataclass(frozen=True)
class Field:
    """What a field of a JSON record must be: ``what`` it is, in words, and the test of a value."""

    what: str
    valid: Callable[[Any], bool]


NUMBER = Field("a number", _number)
NUMBERS = Field("a list of numbers", _numbers)
OBJECT = Field("a JSON object", lambda value: isinstance(value, dict))
LIST = Field("a list", lambda value: isinstance(value, list))


def read_record(path: str | os.PathLike, fields: dict[str, Field], rule: str | None = None) -> dict:
    """The JSON record ``path`` (``read_json``) with each of ``fields`` present and what it must be;
    ``ResultFileError`` naming the file and the field otherwise (``rule``: the job that writes it)."""
    record = read_json(path)
    if not isinstance(record, dict):
        raise unusable(path, f"not a record (a JSON object) but a JSON {type(record).__name__}", rule)
    for name, field in fields.items():
        if name not in record:
            raise unusable(path, f"it has no {name!r} (it has: {', '.join(record) or 'nothing'})", rule)
        if not field.valid(record[name]):
            raise unusable(path, f"its {name!r} is not {field.what}: {_shown(record[name])}", rule)
    return record


def _shown(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def read_torch(path: str | os.PathLike, map_location="cpu", rule: str | None = None) -> Any:
    """The tensor file ``path`` read as data only (``weights_only=True``: tensors, numbers, strings and
    containers of them); ``ResultFileError`` naming it (and ``rule``, the job that writes it) if it is
    missing, truncated or holds anything else."""
    import torch

    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":  # torch.save writes a zip archive
                raise unusable(path, "not a PyTorch file (it does not start like one)", rule)
            f.seek(0)
            return torch.load(f, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise unusable(path, "the file is missing", rule) from None
    except pickle.UnpicklingError:
        # torch's own message suggests weights_only=False, which would run whatever the file holds
        raise unusable(path, "it holds Python objects other than tensors and plain data, which lossbarcode "
                             "never writes; refused without loading them, as loading them could run code", rule) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as error:
        reason = str(error).split(". ")[0] or type(error).__name__
        raise unusable(path, f"truncated or corrupted ({reason})", rule) from None


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))
