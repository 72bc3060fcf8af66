"""The rosbags typestores we use, and what their field definitions mean in Python terms.

rosbags ships the message definitions of each ROS 2 distribution (`Stores.ROS2_HUMBLE`,
`Stores.ROS2_JAZZY`); their field names, types and CDR layout are those rclpy uses. Every other
module here (factories, validator) reads field types from `typestore.fielddefs` instead of keeping
per-message tables, so a message type we start using later needs no code.

The stores lack control_msgs; its `GripperCommand.msg` (identical in Humble's control_msgs 4.x and
Jazzy's 5.x: two float64) is registered from its .msg text with `get_types_from_msg`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

DISTROS = {"humble": Stores.ROS2_HUMBLE, "jazzy": Stores.ROS2_JAZZY}

# Types missing from the rosbags stores, as their upstream .msg text.
EXTRA_MSG_DEFINITIONS = {
    "control_msgs/msg/GripperCommand": "float64 position\nfloat64 max_effort\n",
}

# numpy dtype of each numeric ROS base type (ROS 2: byte = octet, char = uint8).
NUMPY_DTYPES: dict[str, Any] = {
    "bool": np.bool_, "byte": np.uint8, "octet": np.uint8, "char": np.uint8,
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
    "float32": np.float32, "float64": np.float64,
}
# array.array type codes rclpy uses for numeric sequences (rosidl_generator_py).
ARRAY_TYPECODES = {
    "float32": "f", "float64": "d", "int8": "b", "uint8": "B", "char": "B", "int16": "h", "uint16": "H",
    "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q",
}
INTEGER_RANGES = {
    "char": (0, 2**8), "int8": (-(2**7), 2**7), "uint8": (0, 2**8), "int16": (-(2**15), 2**15),
    "uint16": (0, 2**16), "int32": (-(2**31), 2**31), "uint32": (0, 2**32), "int64": (-(2**63), 2**63),
    "uint64": (0, 2**64),
}
FLOAT_TYPES = ("float32", "float64")
FLOAT32_MAX = 3.402823466e38


def check_distro(distro: str) -> str:
    if distro not in DISTROS:
        raise ValueError(f"unknown ROS 2 distribution {distro!r}; supported: {sorted(DISTROS)}")
    return distro


def make_typestore(distro: str) -> Typestore:
    """A fresh typestore for `distro` with our extra types registered (callers may register more)."""
    store = get_typestore(DISTROS[check_distro(distro)])
    for type_name, text in EXTRA_MSG_DEFINITIONS.items():
        store.register(get_types_from_msg(text, type_name))
    return store


@cache
def shared_typestore(distro: str) -> Typestore:
    """One typestore per distribution for read-only use (field lookups, hashes)."""
    return make_typestore(distro)


def message_fields(store: Typestore, type_name: str) -> list[tuple[str, Nodetype, Any]]:
    """(field name, node type, spec) of `type_name`; a clear error for a type the store lacks."""
    try:
        _, fields = store.fielddefs[type_name]
    except KeyError:
        raise KeyError(f"message type {type_name!r} is not in this typestore "
                       f"(expected 'package/msg/Name', e.g. 'sensor_msgs/msg/Image')") from None
    return [(name, Nodetype(node[0]), node[1]) for name, node in fields]


def is_numeric(base_type: str) -> bool:
    return base_type in ARRAY_TYPECODES
