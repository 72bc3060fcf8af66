"""Message factories: one converter code path for rclpy messages on the robot and rosbags ones here.

Every writer in `mtdagger.messages.convert` builds messages only through `factory.new(type_name,
**fields)`, handing over Humble-safe Python values (float, int, str, list, `array.array` for numeric
sequences). The factory turns them into its library's message objects:

- `RclpyFactory`: the real rclpy classes (`sensor_msgs/msg/Image` -> `sensor_msgs.msg.Image`),
  imported lazily; only usable on a ROS machine. rclpy fills omitted fields with defaults.
- `RosbagsFactory(distro)`: rosbags typestore dataclasses (Humble or Jazzy definitions), for bags and
  tests. rosbags needs every field and numpy arrays for numeric arrays/sequences, so omitted fields
  get rclpy's defaults and numeric containers are converted with the dtype from the field definition.
- `RclpyLikeFactory(distro)`: rclpy's behaviour without rclpy, for tests: plain objects holding the
  values as rclpy would store them, each checked by `validate_for_rclpy` on construction, so a
  writer that would crash Humble's rclpy fails here.
"""

from __future__ import annotations

import array
import importlib
from functools import cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
from rosbags.interfaces import Nodetype

from mtdagger.messages.typestore import (
    ARRAY_TYPECODES,
    FLOAT_TYPES,
    NUMPY_DTYPES,
    check_distro,
    make_typestore,
    message_fields,
    shared_typestore,
)
from mtdagger.messages.validate import RclpyFieldError, message_type_name, rclpy_field_problems


@runtime_checkable
class MessageFactory(Protocol):
    def new(self, type_name: str, **fields: Any) -> Any:
        """A message of `type_name` ('package/msg/Name') with `fields`; omitted fields get defaults."""
        ...


# ----------------------------------------------------------------------------- rclpy

@cache
def rclpy_message_class(type_name: str) -> type:
    """'sensor_msgs/msg/Image' -> the class `sensor_msgs.msg.Image` (needs the ROS package installed)."""
    parts = type_name.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"message type must look like 'package/msg/Name', got {type_name!r}")
    package, kind, name = parts
    module = importlib.import_module(f"{package}.{kind}")
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f"{package}.{kind} has no message {name!r}") from None


class RclpyFactory:
    """Builds real rclpy messages; rclpy checks and defaults the fields itself."""

    def new(self, type_name: str, **fields: Any) -> Any:
        return rclpy_message_class(type_name)(**fields)


# ----------------------------------------------------------------------------- shared field logic

def _base_default(base: str) -> Any:
    if base in FLOAT_TYPES:
        return 0.0
    if base == "bool":
        return False
    if base in ("string", "wstring"):
        return ""
    if base in ("byte", "octet"):
        return b"\x00"
    return 0


def _reject_unknown_fields(type_name: str, known: list[str], fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise TypeError(f"{type_name} has no field(s) {unknown}; its fields: {known}")


def _element(spec: Any) -> tuple[Nodetype, Any, int]:
    (element_node, element_spec), size = spec
    return Nodetype(element_node), element_spec, size


# ----------------------------------------------------------------------------- rosbags

class RosbagsFactory:
    """rosbags typestore messages for `distro` ('humble' or 'jazzy'), with CDR helpers."""

    def __init__(self, distro: str = "jazzy") -> None:
        self.distro = check_distro(distro)
        self.typestore = make_typestore(distro)

    def new(self, type_name: str, **fields: Any) -> Any:
        try:
            cls = self.typestore.types[type_name]
        except KeyError:
            raise KeyError(f"message type {type_name!r} is not in the rosbags {self.distro} "
                           f"typestore") from None
        definition = message_fields(self.typestore, type_name)
        _reject_unknown_fields(type_name, [name for name, _, _ in definition], fields)
        values = {}
        for name, node, spec in definition:
            if name in fields:
                values[name] = self._coerce(fields[name], node, spec, f"{type_name}.{name}")
            else:
                values[name] = self._default(node, spec)
        return cls(**values)

    def convert(self, msg: Any, type_name: str | None = None) -> Any:
        """Any message object with the right attributes (rclpy, PlainMessage) -> rosbags message."""
        type_name = type_name or message_type_name(msg)
        names = [name for name, _, _ in message_fields(self.typestore, type_name)]
        return self.new(type_name, **{name: getattr(msg, name) for name in names})

    def serialize(self, msg: Any) -> bytes:
        """CDR bytes, exactly what rclpy would put on the wire (and rosbag2 in a bag)."""
        return bytes(self.typestore.serialize_cdr(msg, msg.__msgtype__))

    def deserialize(self, data: bytes, type_name: str) -> Any:
        return self.typestore.deserialize_cdr(data, type_name)

    def _default(self, node: Nodetype, spec: Any) -> Any:
        if node == Nodetype.BASE:
            return _base_default(spec[0])
        if node == Nodetype.NAME:
            return self.new(spec)
        element_node, element_spec, size = _element(spec)
        count = size if node == Nodetype.ARRAY else 0
        if element_node == Nodetype.BASE and element_spec[0] in NUMPY_DTYPES:
            return np.zeros(count, dtype=NUMPY_DTYPES[element_spec[0]])
        return [self._default(element_node, element_spec) for _ in range(count)]

    def _coerce(self, value: Any, node: Nodetype, spec: Any, path: str) -> Any:
        if node == Nodetype.BASE:
            return value
        if node == Nodetype.NAME:
            if getattr(value, "__msgtype__", None) == spec and type(value) is self.typestore.types.get(spec):
                return value
            return self.convert(value, spec)
        element_node, element_spec, size = _element(spec)
        if element_node == Nodetype.BASE and element_spec[0] in NUMPY_DTYPES:
            dtype = np.dtype(NUMPY_DTYPES[element_spec[0]])
            if isinstance(value, (bytes, bytearray, memoryview)):
                if dtype != np.uint8:
                    raise TypeError(f"{path}: bytes given for a {element_spec[0]} array")
                result = np.frombuffer(value, dtype=np.uint8)
            else:
                result = np.ascontiguousarray(np.asarray(value).astype(dtype, copy=False)).reshape(-1)
        else:
            result = [self._coerce(item, element_node, element_spec, f"{path}[]") for item in value]
        if node == Nodetype.ARRAY and len(result) != size:
            raise ValueError(f"{path}: fixed array needs {size} items, got {len(result)}")
        if node == Nodetype.SEQUENCE and size and len(result) > size:
            raise ValueError(f"{path}: {len(result)} items exceed the bound {size}")
        return result


# ----------------------------------------------------------------------------- rclpy stand-in

class PlainMessage:
    """A message as rclpy would hold it (attributes named like the fields), without rclpy."""

    def __init__(self, type_name: str, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self.__msgtype__ = type_name

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "__msgtype__")
        return f"{self.__msgtype__}({fields})"


class RclpyLikeFactory:
    """Builds `PlainMessage`s and refuses, like Humble's rclpy, any field value rclpy would refuse."""

    def __init__(self, distro: str = "humble") -> None:
        self.distro = check_distro(distro)
        self._store = shared_typestore(distro)

    def new(self, type_name: str, **fields: Any) -> PlainMessage:
        definition = message_fields(self._store, type_name)
        _reject_unknown_fields(type_name, [name for name, _, _ in definition], fields)
        values = {name: fields[name] if name in fields else self._default(node, spec)
                  for name, node, spec in definition}
        msg = PlainMessage(type_name, values)
        problems = rclpy_field_problems(msg, self.distro, type_name)
        if problems:
            raise RclpyFieldError(type_name, problems)
        for name, node, spec in definition:  # store accepted values the way rclpy's setters do
            setattr(msg, name, self._stored(values[name], node, spec))
        return msg

    def _default(self, node: Nodetype, spec: Any) -> Any:
        if node == Nodetype.BASE:
            return _base_default(spec[0])
        if node == Nodetype.NAME:
            return self.new(spec)
        element_node, element_spec, size = _element(spec)
        base = element_spec[0] if element_node == Nodetype.BASE else None
        if node == Nodetype.ARRAY:
            if base in ARRAY_TYPECODES:
                return np.zeros(size, dtype=NUMPY_DTYPES[base])
            return [self._default(element_node, element_spec) for _ in range(size)]
        return array.array(ARRAY_TYPECODES[base]) if base in ARRAY_TYPECODES else []

    @staticmethod
    def _stored(value: Any, node: Nodetype, spec: Any) -> Any:
        """rclpy keeps an accepted numeric sequence as array.array and a numeric fixed array as ndarray."""
        if node not in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            return value
        element_node, element_spec, _ = _element(spec)
        base = element_spec[0] if element_node == Nodetype.BASE else None
        if base not in ARRAY_TYPECODES or isinstance(value, (np.ndarray, array.array)):
            return value
        if node == Nodetype.SEQUENCE:
            return array.array(ARRAY_TYPECODES[base], value)
        return np.array(value, dtype=NUMPY_DTYPES[base])
