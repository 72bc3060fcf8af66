"""House rules for first-party code: files of at most 400 lines, functions of at most 60.

Small files with one idea each and functions that read top to bottom (DESIGN.md §11, rsl_rl).
A file or function may be longer when a comment says why:

    def generate_launch_description():  # house-rules: one declaration per launch argument

on the def line (the line with `def`, for a decorated function too), or, for a file, within its
first HEADER_LINES lines. The reason must be written out: a bare `# house-rules:` does not count.

Checked: every .py file under the repository root except tests (any `tests`/`test` directory),
hidden directories, virtual environments and build outputs. Lengths are physical lines, a
function's from its def line to its last line (docstring and nested functions included).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
HEADER_LINES = 10
SKIPPED_DIRS = {"tests", "test", "__pycache__", "build", "install", "log", "runs", "out", "node_modules"}
EXEMPTION = re.compile(r"#\s*house-rules:\s*\S")


def first_party_files(root: Path = REPO) -> list[Path]:
    """Every .py file the rules apply to, sorted (symlinked directories are not followed)."""
    found: list[Path] = []

    def walk(directory: Path) -> None:
        for entry in sorted(directory.iterdir()):
            if entry.is_symlink():
                continue
            if entry.is_dir():
                skipped = entry.name in SKIPPED_DIRS or entry.name.startswith(".")
                if not skipped and not entry.name.endswith(".egg-info"):
                    walk(entry)
            elif entry.suffix == ".py":
                found.append(entry)

    walk(root)
    return found


def violations(path: Path, root: Path = REPO) -> list[str]:
    """`file: N lines` and `file:function: N lines` for each rule `path` breaks without a reason."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    name = path.relative_to(root).as_posix()
    found = []
    header_exempt = any(EXEMPTION.search(line) for line in lines[:HEADER_LINES])
    if len(lines) > MAX_FILE_LINES and not header_exempt:
        found.append(f"{name}: {len(lines)} lines")
    for node in ast.walk(ast.parse(text, filename=name)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        length = node.end_lineno - node.lineno + 1
        if length > MAX_FUNCTION_LINES and not EXEMPTION.search(lines[node.lineno - 1]):
            found.append(f"{name}:{node.name}: {length} lines")
    return found


def test_first_party_files_and_functions_stay_short():
    files = first_party_files()
    assert any(p.relative_to(REPO).parts[0] == "mtdagger" for p in files)  # the walk found the package
    broken = [v for path in files for v in violations(path)]
    rule = f"over {MAX_FILE_LINES} lines per file or {MAX_FUNCTION_LINES} per function"
    how = "split it, or say why on the def line (or the file's first lines): `# house-rules: <why>`"
    assert not broken, f"{rule}; {how}:\n  " + "\n  ".join(broken)


def _write(tmp_path: Path, relative: str, text: str) -> Path:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _function(name: str, body_lines: int, def_comment: str = "") -> str:
    return f"def {name}():{def_comment}\n" + "    x = 1\n" * (body_lines - 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_function("short", 60), []),
        (_function("long", 61), ["pkg/mod.py:long: 61 lines"]),
        (_function("long", 61, "  # house-rules: one branch per message type"), []),
        (_function("long", 61, "  # house-rules:"), ["pkg/mod.py:long: 61 lines"]),  # no reason given
        ("class A:\n    " + _function("method", 61).replace("\n", "\n    "), ["pkg/mod.py:method: 61 lines"]),
        ("@staticmethod\n" + _function("decorated", 61), ["pkg/mod.py:decorated: 61 lines"]),
        ("x = 1\n" * 401, ["pkg/mod.py: 401 lines"]),
        ("# house-rules: generated table\n" + "x = 1\n" * 400, []),
        ("\n" * HEADER_LINES + "# house-rules: too late\n" + "x = 1\n" * 400, ["pkg/mod.py: 411 lines"]),
    ],
    ids=[
        "60-ok",
        "61",
        "61-with-reason",
        "61-bare-marker",
        "method",
        "decorated",
        "file-401",
        "file-with-reason",
        "file-reason-too-late",
    ],
)
def test_the_rules_count_lines_and_honour_written_reasons(tmp_path, text, expected):
    assert violations(_write(tmp_path, "pkg/mod.py", text), tmp_path) == expected


def test_tests_hidden_dirs_and_build_outputs_are_not_checked(tmp_path):
    for relative in ("pkg/mod.py", "tests/test_x.py", "pkg/test/test_y.py", ".venv/lib/z.py", "build/b.py"):
        _write(tmp_path, relative, "x = 1\n")
    assert [p.relative_to(tmp_path).as_posix() for p in first_party_files(tmp_path)] == ["pkg/mod.py"]
