"""One generic validator for every typed config dataclass: types, ranges and unknown keys.

Why generic: configs are frozen dataclasses that several people extend in parallel. A field that
carries a type annotation is checked from that annotation alone (bool, int, float, str, Literal,
Optional, tuple/list/dict of those, nested dataclasses), so a new field is validated the day it is
added, with no extra code. Ranges come from the field's metadata (`field(metadata=bounds(gt=0))`)
or from a `{(cls, name): Bounds}` table passed by the caller, for files that prefer not to touch
their field lines. Floats must be finite unless a range explicitly allows infinity.

Every failure is a `ConfigError` whose one-line message starts with the dotted field path
(`bc.lr must be > 0, got -1.0`), so the command line can print it as is, without a traceback.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np

RANGE_METADATA_KEY = "range"


class ConfigError(ValueError):
    """A config value is of the wrong type, out of range, or an unknown key; names the field."""


@dataclass(frozen=True)
class Bounds:
    """Closed/open numeric bounds for one field; None means unbounded on that side."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    why: str = ""  # appended to the error: say what a violation usually means (units, typos)

    def check(self, value: float, where: str) -> None:
        number = float(value)
        failed = (
            (self.ge is not None and not number >= self.ge)
            or (self.gt is not None and not number > self.gt)
            or (self.le is not None and not number <= self.le)
            or (self.lt is not None and not number < self.lt)
        )
        if failed:
            hint = f" ({self.why})" if self.why else ""
            raise ConfigError(f"{where} must be {self.describe()}, got {value!r}{hint}")

    def describe(self) -> str:
        parts = [
            f"{op} {int(limit) if float(limit).is_integer() else limit}"
            for op, limit in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
            if limit is not None
        ]
        return " and ".join(parts) or "any number"


def bounds(**kwargs: Any) -> dict[str, Bounds]:
    """Field metadata carrying a range: `x: float = field(default=1.0, metadata=bounds(gt=0))`."""
    return {RANGE_METADATA_KEY: Bounds(**kwargs)}


RangeTable = Mapping[tuple[type, str], Bounds]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def check_value(value: Any, annotation: Any, where: str, ranges: RangeTable | None = None) -> Any:
    """Check `value` against a type annotation; returns it normalised (lists -> tuples for tuple
    fields, ints -> floats for float fields, nested dataclasses built)."""
    if annotation is Any or annotation is object:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return _check_union(value, args, where, ranges)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        return build_dataclass(annotation, value, where, ranges)
    for scalar, check in _SCALAR_CHECKS:
        if annotation is scalar:
            return check(value, where)
    container = origin or annotation
    if container in (tuple, list):
        return _check_sequence(value, container, args, where, ranges)
    if container in (dict, Mapping) or container is typing.Mapping:
        return _check_mapping(value, args, where, ranges)
    return value  # an annotation we do not model (a callable, a custom class): left to the class


def _check_union(value: Any, args: tuple[Any, ...], where: str, ranges: RangeTable | None) -> Any:
    """Optional[X] / X | Y: None where allowed, else the first option that accepts the value. An
    Optional reports its one option's own error; a real union lists why each option refused."""
    if value is None and type(None) in args:
        return None
    options = [a for a in args if a is not type(None)]
    errors = []
    for option in options:
        try:
            return check_value(value, option, where, ranges)
        except ConfigError as error:
            errors.append(str(error))
    if len(options) == 1:
        raise ConfigError(errors[0])
    raise ConfigError(f"{where} has the wrong type ({_type_name(value)}): " + "; or ".join(errors))


def _check_bool(value: Any, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    return bool(value)


def _check_int(value: Any, where: str) -> int:
    """An integer, never a bool (YAML's `true` is not 1 here) and never a float such as 2.0."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{where} must be an integer, got {value!r} ({_type_name(value)})")
    return int(value)


def _check_float(value: Any, where: str) -> float:
    """A finite number (int accepted); infinity is only allowed through a field's Bounds."""
    if not _is_number(value):
        hint = _number_hint(value)
        raise ConfigError(f"{where} must be a number, got {value!r} ({_type_name(value)}){hint}")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{where} must be finite, got {value!r}")
    return float(value)


def _number_hint(value: Any) -> str:
    """For text that reads as a number: why YAML made it text, and how to write it. YAML 1.1 (what
    PyYAML reads) takes `1e-3` as a string: a float needs a dot in the mantissa and a signed exponent."""
    if not isinstance(value, str):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    mantissa, _, exponent = value.strip().lower().partition("e")
    if exponent:
        dotted = mantissa if "." in mantissa else f"{mantissa}.0"
        sign = exponent if exponent[:1] in "+-" else f"+{exponent}"
        return f"; YAML reads {value!r} as text: write {number!r} or {dotted}e{sign}"
    return f"; YAML reads {value!r} as text (quoted?): write {number!r} without quotes"


def _check_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r} ({_type_name(value)})")
    return value


# (annotation, check), matched by identity as `annotation is bool` etc.: never by equality or subclass.
_SCALAR_CHECKS: tuple[tuple[type, Callable[[Any, str], Any]], ...] = (
    (bool, _check_bool),
    (int, _check_int),
    (float, _check_float),
    (str, _check_str),
)


def _check_sequence(
    value: Any, container: type, args: tuple[Any, ...], where: str, ranges: RangeTable | None
) -> tuple[Any, ...] | list[Any]:
    """A list or tuple from YAML's lists: fixed-length tuples check each position against its own
    type, `tuple[X, ...]` and `list[X]` every item against X. Tuple fields come back as tuples."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where} must be a list, got {value!r} ({_type_name(value)})")
    if container is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ConfigError(f"{where} must have {len(args)} entries, got {len(value)}")
        items = [check_value(v, a, f"{where}[{i}]", ranges) for i, (v, a) in enumerate(zip(value, args))]
    else:
        item_type = args[0] if args else Any
        items = [check_value(v, item_type, f"{where}[{i}]", ranges) for i, v in enumerate(value)]
    return tuple(items) if container is tuple else items


def _check_mapping(
    value: Any, args: tuple[Any, ...], where: str, ranges: RangeTable | None
) -> dict[Any, Any]:
    """A mapping whose keys and values are each checked (an unparameterised dict: anything goes)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {value!r} ({_type_name(value)})")
    key_type, value_type = args if len(args) == 2 else (Any, Any)
    return {
        check_value(k, key_type, f"{where} key", ranges): check_value(v, value_type, f"{where}.{k}", ranges)
        for k, v in value.items()
    }


def _field_bounds(cls: type, f: dataclasses.Field, ranges: RangeTable | None) -> Bounds | None:
    if ranges and (cls, f.name) in ranges:
        return ranges[(cls, f.name)]
    found = f.metadata.get(RANGE_METADATA_KEY) if f.metadata else None
    return found if isinstance(found, Bounds) else None


def _check_bounds(value: Any, limits: Bounds, where: str) -> None:
    if _is_number(value):
        limits.check(value, where)
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            _check_bounds(item, limits, f"{where}[{i}]")


def validate_fields(cls: type, data: Any, where: str, ranges: RangeTable | None = None) -> dict[str, Any]:
    """Check a plain mapping against dataclass `cls`: unknown keys, missing required keys, each
    value's type and range. Returns the normalised keyword arguments (no object is built)."""
    label = where or "<root>"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{label} must be a mapping of keys to values, got {data!r} ({_type_name(data)})")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(k) for k in set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown} in {label}; valid: {sorted(fields)}")
    missing = [
        name
        for name, f in fields.items()
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]
    if missing:
        raise ConfigError(f"{label} lacks required key(s) {missing}")
    hints = _type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        normalised = check_value(value, hints.get(name, Any), path, ranges)
        limits = _field_bounds(cls, fields[name], ranges)
        if limits is not None and normalised is not None:
            _check_bounds(normalised, limits, path)
        kwargs[name] = normalised
    return kwargs


def _type_hints(cls: type) -> dict[str, Any]:
    """Resolved field annotations; a field whose annotation cannot be resolved (a name only known
    where the class was defined) is left to the class's own checks rather than failing them all."""
    try:
        return typing.get_type_hints(cls)
    except NameError:
        hints = {}
        for f in dataclasses.fields(cls):
            try:
                hints[f.name] = typing.get_type_hints(
                    type("_One", (), {"__annotations__": {f.name: f.type}, "__module__": cls.__module__})
                )[f.name]
            except NameError:
                hints[f.name] = Any
        return hints


def build_dataclass(cls: type, data: Any, where: str, ranges: RangeTable | None = None) -> Any:
    """`validate_fields`, then construct; the class's own `__post_init__` checks keep running and
    their ValueError/TypeError is re-raised as a ConfigError prefixed with `where`."""
    kwargs = validate_fields(cls, data, where, ranges)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{where or 'config'}: {error}") from None
