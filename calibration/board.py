"""The ChArUco calibration board: its parameters, the OpenCV board object, and a printable file.

Why a board file of our own: detection needs the exact parameters the board was printed with
(squares, square and marker size, dictionary, layout), and a printer that scales the page makes
every pose wrong by the same factor. So `write_board` produces a PNG, a PDF whose page size is
the board's true size (print at 100 %, "actual size"), and `board.yaml` with the parameters, which
`detect`/`solve` read back. Measure one printed square and put the measured length in the YAML if
the printer scaled it.

ChArUco board frame (OpenCV): origin at the board's top-left chessboard corner as printed, x to
the right, y down the printed page, z into the board (right-handed).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mtdagger.files import load_yaml

BOARD_FILE = "board.yaml"
_INCH_M = 0.0254


class BoardError(ValueError):
    """Board parameters that cannot describe a printable, detectable ChArUco board."""


@dataclass(frozen=True)
class BoardSpec:
    squares_x: int = 7  # chessboard squares across
    squares_y: int = 5  # chessboard squares down
    square_length_m: float = 0.04
    marker_length_m: float = 0.03
    dictionary: str = "DICT_5X5_100"  # any cv2.aruco.DICT_* name
    legacy_pattern: bool = False  # boards printed by OpenCV < 4.6 with an even number of rows

    def __post_init__(self) -> None:
        for name in ("squares_x", "squares_y"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise BoardError(f"{name} must be an integer >= 2, got {value!r}")
        for name in ("square_length_m", "marker_length_m"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise BoardError(f"{name} must be a positive length in metres, got {value!r}")
        if self.marker_length_m >= self.square_length_m:
            raise BoardError(
                f"marker_length_m ({self.marker_length_m}) must be smaller than square_length_m "
                f"({self.square_length_m})"
            )
        size = _dictionary_size(self.dictionary)
        needed = (self.squares_x * self.squares_y) // 2
        if needed > size:
            raise BoardError(
                f"a {self.squares_x}x{self.squares_y} board needs {needed} markers but dictionary "
                f"{self.dictionary} has {size}; choose a larger one (e.g. DICT_5X5_250)"
            )

    @property
    def size_m(self) -> tuple[float, float]:
        return self.squares_x * self.square_length_m, self.squares_y * self.square_length_m

    def opencv_board(self) -> Any:
        import cv2

        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        board = cv2.aruco.CharucoBoard(
            (self.squares_x, self.squares_y), self.square_length_m, self.marker_length_m, dictionary
        )
        board.setLegacyPattern(self.legacy_pattern)
        return board

    def corner_points(self) -> np.ndarray:
        """(K, 3) interior chessboard corners in the board frame, indexed by ChArUco corner id."""
        return np.asarray(self.opencv_board().getChessboardCorners(), dtype=np.float64).reshape(-1, 3)


def _dictionary_size(name: str) -> int:
    import cv2

    if not isinstance(name, str) or not name.startswith("DICT_") or not hasattr(cv2.aruco, name):
        raise BoardError(f"dictionary {name!r} is not a cv2.aruco dictionary (e.g. DICT_5X5_100)")
    return int(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name)).bytesList.shape[0])


def render_board(spec: BoardSpec, pixels_per_square: int, margin_squares: float = 0.5) -> np.ndarray:
    """Greyscale board image, `pixels_per_square` pixels per square, with a white quiet zone."""
    if pixels_per_square < 20:
        raise BoardError(f"pixels_per_square must be >= 20 for a readable marker, got {pixels_per_square}")
    margin = round(margin_squares * pixels_per_square)
    width = spec.squares_x * pixels_per_square + 2 * margin
    height = spec.squares_y * pixels_per_square + 2 * margin
    image = spec.opencv_board().generateImage((width, height), marginSize=margin, borderBits=1)
    return np.asarray(image, dtype=np.uint8)


def write_board(spec: BoardSpec, out_dir: str | Path, dpi: int = 300) -> dict[str, Path]:
    """Write board.png, board.pdf (page = board at true scale) and board.yaml into `out_dir`."""
    from PIL import Image

    if dpi < 72:
        raise BoardError(f"dpi must be >= 72, got {dpi}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Whole pixels per square, then the dpi that makes them exactly square_length_m wide on paper.
    pixels_per_square = max(20, round(spec.square_length_m / _INCH_M * dpi))
    exact_dpi = pixels_per_square / (spec.square_length_m / _INCH_M)
    image = render_board(spec, pixels_per_square)
    paths = {"png": out / "board.png", "pdf": out / "board.pdf", "yaml": out / BOARD_FILE}
    pil = Image.fromarray(image)
    pil.save(paths["png"], dpi=(exact_dpi, exact_dpi))
    pil.convert("RGB").save(paths["pdf"], resolution=exact_dpi)
    page_w, page_h = (s / exact_dpi * _INCH_M for s in (image.shape[1], image.shape[0]))
    data = {
        "board": asdict(spec),
        "print": {
            "dpi": float(exact_dpi),
            "pixels_per_square": int(pixels_per_square),
            "page_size_m": [float(page_w), float(page_h)],
            "note": "print at 100 % (actual size); measure a square and correct square_length_m",
        },
    }
    paths["yaml"].write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return paths


def load_board(path: str | Path) -> BoardSpec:
    """Read a board.yaml (or a folder holding one); unknown keys are refused by name."""
    path = Path(path)
    if path.is_dir():
        path = path / BOARD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"board file not found: {path}")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"), str(path))
    except yaml.YAMLError as error:
        raise BoardError(str(error)) from None
    section = data.get("board") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise BoardError(f"{path}: expected a mapping with a 'board' section")
    return board_from_dict(section, source=str(path))


def board_from_dict(section: dict[str, Any], source: str = "board") -> BoardSpec:
    allowed = set(BoardSpec.__dataclass_fields__)
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise BoardError(f"{source}: unknown board key(s): {', '.join(unknown)} (allowed: {sorted(allowed)})")
    try:
        return BoardSpec(**section)
    except BoardError as error:
        raise BoardError(f"{source}: {error}") from None
