"""Config sections that pick one of several typed dataclasses by name: the scheduler, the β schedule.

    scheduler: {name: task_need, temperature: 0.5, min_per_task: 1}
    dagger: {beta: {schedule: linear, rampdown_rounds: 3}}

The choice key (`name`, `schedule`) picks the frozen dataclass from a registry; the other keys are
that dataclass's own fields, checked by the generic validator (mtdagger/config_validation.py: the
type from the annotation, the range from the field's `bounds(...)` metadata). A key that belongs to
another choice is refused naming it and the valid ones, so `temperature` on a DRATS config is an
error rather than a knob that is silently ignored. Each class carries its name as a class constant
and writes it back in `to_dict`, so a config round-trips through YAML exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mtdagger.config_validation import ConfigError, build_dataclass, validate_fields


def check_fields(config: Any, where: str) -> None:
    """Validate a built frozen dataclass's fields as YAML input would be (types, ranges), so a config
    made in code is held to the same rules; normalises in place (ints to floats, lists to tuples)."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}
    for name, value in validate_fields(type(config), values, where).items():
        object.__setattr__(config, name, value)


def build_choice(choices: Mapping[str, type], data: Any, key: str, default: str, where: str) -> Any:
    """The dataclass `data[key]` names (`default` when absent), built from the rest of `data`.

    An instance of one of the choices is returned as is. Errors are one-line ConfigErrors naming
    `where` and the offending key."""
    if isinstance(data, tuple(choices.values())):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{where} must be a mapping of keys to values, got {data!r} ({type(data).__name__})"
        )
    values = dict(data)
    name = values.pop(key, default)
    if not isinstance(name, str) or name not in choices:
        raise ConfigError(f"{where}.{key}={name!r} is unknown; valid: {', '.join(choices)}")
    cls = choices[name]
    valid = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(str(k) for k in set(values) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {unknown} in {where} for {key} {name!r}; valid: {sorted([key, *valid])}"
        )
    return build_dataclass(cls, values, where)


def choice_fields(choices: Mapping[str, type]) -> list[str]:
    """Every field any of the choices has, sorted (for `train --help`)."""
    return sorted({f.name for cls in choices.values() for f in dataclasses.fields(cls) if f.init})
