"""Files in and out, the one way every part of the project does it.

- `load_yaml`: the project's only YAML loader (safe, and a key given twice in one mapping is an
  error). PyYAML's `safe_load` keeps the last of two equal keys without a word, so a preset with a
  second `dagger:` section silently lost the first one. tests/test_bad_inputs_config.py checks
  that no other module calls `yaml.safe_load`/`yaml.load`.
- `atomic_write_bytes` / `atomic_write_text`: temp file in the destination's directory, fsync,
  rename, fsync the directory (a reader sees the old file or the whole new one). A failure is an
  `OutputError` naming the destination and the reason in words, never the temp file's name or a
  bare errno; the command line prints it as its one error line (exit code 2).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import yaml

TEMP_PREFIX = ".tmp-"


# --------------------------------------------------------------------------- YAML in


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (merge keys `<<` excepted)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = key in first_line
            except TypeError:  # an unhashable key: the base class refuses it with its own message
                continue
            if seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (first given at line {first_line[key] + 1}; YAML would "
                    "silently keep only the last)",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


class YamlError(yaml.YAMLError, ValueError):
    """A YAML text that cannot be read (syntax, or a duplicated key); one line, with the line number.

    A `yaml.YAMLError` (callers that catch those keep working, and keep `problem`/`problem_mark`)
    and a `ValueError` (commands print it as their one error line)."""

    def __init__(self, where: str, problem: str, mark: Any = None) -> None:
        self.problem, self.problem_mark = problem, mark
        text = f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem
        super().__init__(f"{where}: not valid YAML: {text}" if where else f"not valid YAML: {text}")


def load_yaml(source: str | bytes | IO[str] | IO[bytes], where: str = "") -> Any:
    """`yaml.safe_load`, except that a duplicated key is an error; any error is a `YamlError`
    whose message starts with `where` (the file or flag the text came from)."""
    try:
        return yaml.load(source, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
    except YamlError:
        raise
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise YamlError(where, problem, mark) from None


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error on one line: the problem and where, without the parser's multi-line dump."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


# --------------------------------------------------------------------------- files out


class OutputError(OSError):
    """An output file or directory cannot be written; the message names it and says why."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.errno = code


_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "it is a directory",
}


def output_error(path: str | Path, error: OSError) -> OutputError:
    """`error` (raised while writing `path` or a temp file beside it) as one line naming `path`."""
    if isinstance(error, OutputError):
        return error
    path = Path(path)
    reason = _REASONS.get(error.errno or 0, error.strerror or type(error).__name__).lower()
    where = ""
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        where = f" (the directory {str(path.parent)!r} is not writable)"
    return OutputError(f"cannot write {str(path)!r}: {reason}{where}", error.errno)


def fsync_dir(directory: Path) -> None:
    """Make a rename/creation inside `directory` durable (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_dir(directory: Path) -> None:
    """mkdir -p, fsyncing each parent whose entry we created (a new dir entry is data too)."""
    if directory.is_dir():
        return
    ensure_dir(directory.parent)
    with contextlib.suppress(FileExistsError):
        directory.mkdir()
    fsync_dir(directory.parent)


def _write_synced(handle: IO[bytes], data: bytes) -> None:
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


def atomic_write_bytes(
    final_path: str | Path, data: bytes, *, write: Callable[[IO[bytes], bytes], None] | None = None
) -> Path:
    """Write `data` to `final_path` so a reader sees the old state or all of it, never part.

    Temp file in the same directory (same filesystem, so the rename is atomic), fsync, rename,
    fsync the directory. On any failure the temp file is removed; an OSError comes out as an
    `OutputError` naming `final_path`. `write(handle, data)` writes and fsyncs (a test seam)."""
    final_path = Path(final_path)
    try:
        ensure_dir(final_path.parent)
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=final_path.parent)
    except OSError as error:
        raise output_error(final_path, error) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            (write or _write_synced)(handle, data)
        os.replace(temp_name, final_path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(error, OSError):
            raise output_error(final_path, error) from None
        raise
    fsync_dir(final_path.parent)
    return final_path


def atomic_write_text(final_path: str | Path, text: str) -> Path:
    """`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(final_path, text.encode("utf-8"))
