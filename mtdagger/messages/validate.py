"""A strict check that a message would be accepted by rclpy's generated message classes.

Why: rosbags happily serialises an int in a float64 field and needs numpy arrays everywhere, while
Humble's rclpy asserts on both (`isinstance(value, float)`; a numpy array is not a `Sequence`), and
Jazzy's does the same when ROS_PYTHON_CHECK_FIELDS=1. Code tested only against rosbags could then
crash on the robot. This validator applies rclpy's setter rules (rosidl_generator_py's message
template) to any message object — rosbags dataclass, rclpy message or `PlainMessage` — walking the
field definitions of the distro's typestore, and reports every offending field by its path.

Rules (per field kind):
- float32/float64: a Python `float` (numpy float64 is one; ints and numpy float32 are not);
  float32 within +-3.402823466e38 or infinite.
- integers and char: a Python `int` within the type's range (numpy integers are not ints).
- bool: a `bool`; byte: a 1-byte `bytes`; string: a `str` (bounded strings: length <= bound).
- fixed-size numeric array (`k[9]`): a numpy array of exactly the field's dtype and size, or a
  sequence of that length whose items pass the scalar rule.
- sequence (`float64[]`, `uint8[]`, bounded `T[<=N]`): an `array.array` with the right typecode, or a
  Python sequence (list, tuple, bytes...) whose items pass the scalar rule. NOT a numpy array.
- nested message: its own fields, recursively; a sequence of messages: each element.
"""

from __future__ import annotations

import array
import math
from collections import UserList, UserString
from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import Any

import numpy as np
from rosbags.interfaces import Nodetype

from mtdagger.messages.typestore import (
    ARRAY_TYPECODES,
    FLOAT32_MAX,
    FLOAT_TYPES,
    INTEGER_RANGES,
    NUMPY_DTYPES,
    message_fields,
    shared_typestore,
)


@dataclass(frozen=True)
class FieldProblem:
    path: str  # e.g. 'header.stamp.sec', 'fields[2].offset'
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class RclpyFieldError(TypeError):
    """A message rclpy would refuse; `problems` lists each offending field path."""

    def __init__(self, type_name: str, problems: list[FieldProblem]) -> None:
        self.type_name = type_name
        self.problems = problems
        super().__init__(f"{type_name} would be rejected by rclpy: " + "; ".join(map(str, problems)))


def message_type_name(msg: Any) -> str:
    """'package/msg/Name' of a rosbags, PlainMessage or rclpy message."""
    name = getattr(msg, "__msgtype__", None)
    if isinstance(name, str):
        return name
    cls = type(msg)
    parts = cls.__module__.split(".")
    if len(parts) >= 2 and parts[1] in ("msg", "srv", "action"):
        return f"{parts[0]}/{parts[1]}/{cls.__name__}"
    raise TypeError(f"cannot tell the ROS message type of a {cls.__name__}; pass type_name")


def rclpy_field_problems(msg: Any, distro: str = "jazzy", type_name: str | None = None) -> list[FieldProblem]:
    """Every field of `msg` that rclpy would refuse (empty list: rclpy accepts it)."""
    problems: list[FieldProblem] = []
    _check_message(msg, type_name or message_type_name(msg), "", problems, shared_typestore(distro))
    return problems


def validate_for_rclpy(msg: Any, distro: str = "jazzy", type_name: str | None = None) -> None:
    """Raise `RclpyFieldError` naming each field rclpy would refuse."""
    name = type_name or message_type_name(msg)
    problems = rclpy_field_problems(msg, distro, name)
    if problems:
        raise RclpyFieldError(name, problems)


def _check_message(msg: Any, type_name: str, path: str, problems: list[FieldProblem], store: Any) -> None:
    for name, node, spec in message_fields(store, type_name):
        field_path = f"{path}.{name}" if path else name
        if not hasattr(msg, name):
            problems.append(FieldProblem(field_path, f"missing (expected a field of {type_name})"))
            continue
        _check_node(getattr(msg, name), node, spec, field_path, problems, store)


def _check_node(value: Any, node: Nodetype, spec: Any, path: str, problems: list[FieldProblem],
                store: Any) -> None:
    if node == Nodetype.BASE:
        problem = _scalar_problem(value, spec[0], spec[1])
        if problem:
            problems.append(FieldProblem(path, problem))
    elif node == Nodetype.NAME:
        _check_nested(value, spec, path, problems, store)
    else:
        (element_node, element_spec), size = spec
        _check_collection(value, Nodetype(element_node), element_spec, size, node == Nodetype.ARRAY, path,
                          problems, store)


def _check_nested(value: Any, type_name: str, path: str, problems: list[FieldProblem], store: Any) -> None:
    try:
        actual = message_type_name(value)
    except TypeError:
        actual = None
    if actual is not None and actual != type_name:
        problems.append(FieldProblem(path, f"expected a {type_name} message, got {actual}"))
        return
    _check_message(value, type_name, path, problems, store)


def _scalar_problem(value: Any, base: str, bound: int = 0) -> str | None:
    if base in FLOAT_TYPES:
        if not isinstance(value, float):
            return f"{base} needs a Python float, got {type(value).__name__} {value!r}"
        if base == "float32" and abs(value) > FLOAT32_MAX and not math.isinf(value):
            return f"{value!r} is outside the float32 range"
        return None
    if base in INTEGER_RANGES:
        if not isinstance(value, int):
            return f"{base} needs a Python int, got {type(value).__name__} {value!r}"
        low, high = INTEGER_RANGES[base]
        return None if low <= value < high else f"{value} is outside the {base} range [{low}, {high - 1}]"
    if base == "bool":
        return None if isinstance(value, bool) else f"bool needs a Python bool, got {type(value).__name__}"
    if base in ("byte", "octet"):
        ok = isinstance(value, (bytes, bytearray)) and len(value) == 1
        return None if ok else f"byte needs a 1-byte bytes object, got {value!r}"
    if base in ("string", "wstring"):
        if not isinstance(value, str):
            return f"string needs a str, got {type(value).__name__}"
        return None if not bound or len(value) <= bound else f"string longer than its bound {bound}"
    return f"unsupported base type {base!r}"


def _is_python_sequence(value: Any) -> bool:
    """rclpy's test: a Sequence, Set or UserList that is not a string (numpy arrays fail it)."""
    return isinstance(value, (Sequence, Set, UserList)) and not isinstance(value, (str, UserString))


def _check_collection(value: Any, element_node: Nodetype, element_spec: Any, size: int, fixed: bool,
                      path: str, problems: list[FieldProblem], store: Any) -> None:
    kind = f"array[{size}]" if fixed else (f"sequence[<={size}]" if size else "sequence")
    base = element_spec[0] if element_node == Nodetype.BASE else None
    numeric = base in ARRAY_TYPECODES

    if numeric and fixed and isinstance(value, np.ndarray):
        if value.dtype != np.dtype(NUMPY_DTYPES[base]) or value.size != size:
            problems.append(FieldProblem(path, f"numpy array must have dtype {np.dtype(NUMPY_DTYPES[base])} "
                                               f"and size {size}, got {value.dtype} of size {value.size}"))
        return
    if numeric and not fixed and isinstance(value, array.array):
        if value.typecode != ARRAY_TYPECODES[base]:
            problems.append(FieldProblem(path, f"array.array for {base}[] needs typecode "
                                               f"{ARRAY_TYPECODES[base]!r}, got {value.typecode!r}"))
        elif size and len(value) > size:
            problems.append(FieldProblem(path, f"{len(value)} items exceed the bound {size}"))
        return
    if isinstance(value, np.ndarray):
        hint = "list or array.array" if numeric else "list"
        problems.append(FieldProblem(path, f"numpy array in a {kind} field (Humble's rclpy asserts on it; "
                                           f"pass a {hint})"))
        return
    if not _is_python_sequence(value):
        problems.append(FieldProblem(path, f"{kind} field needs a list/sequence, got {type(value).__name__}"))
        return
    if fixed and len(value) != size:
        problems.append(FieldProblem(path, f"fixed array needs exactly {size} items, got {len(value)}"))
        return
    if not fixed and size and len(value) > size:
        problems.append(FieldProblem(path, f"{len(value)} items exceed the bound {size}"))
        return
    if base in ("uint8", "char") and isinstance(value, (bytes, bytearray)):
        return  # every item of a bytes object is an int in [0, 255]
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if element_node == Nodetype.BASE:
            problem = _scalar_problem(item, base, element_spec[1])
            if problem:
                problems.append(FieldProblem(item_path, problem))
                return  # the first bad item says enough; a 300k-item report helps nobody
        else:
            _check_node(item, element_node, element_spec, item_path, problems, store)
