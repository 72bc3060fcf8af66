"""The structure map keeps the house in order: no import circle, no arrow climbing back up."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "import_map.py"


def _import_map():
    spec = importlib.util.spec_from_file_location("import_map", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def live():
    return _import_map().build_map(ROOT)


def test_every_room_is_placed_in_the_layer_table(live):
    assert live.unplaced == [], f"add these rooms to LAYERS in {SCRIPT.name}: {live.unplaced}"


def test_no_import_circle(live):
    assert live.circles == [], f"import circles: {live.circles}"


def test_no_arrow_back_up(live):
    climbing = {f"{a} -> {b}": live.arrows[(a, b)] for a, b in live.back_up}
    assert climbing == {}, f"arrows back up (see LAYERS in {SCRIPT.name}): {climbing}"


def test_the_map_sees_what_the_rules_forbid(tmp_path):
    """A tiny tree with a circle and an arrow back up: both are found, and function-level imports count."""
    for rel, text in {
        "mtdagger/__init__.py": "",
        "mtdagger/keys.py": "def f():\n    from sim_bridge import backend\n",
        "mtdagger/perception/__init__.py": "",
        "mtdagger/perception/a.py": "from mtdagger.control import b\n",
        "mtdagger/control/__init__.py": "",
        "mtdagger/control/b.py": "from ..perception import a\n",
        "sim_bridge/__init__.py": "",
        "sim_bridge/backend.py": "from mtdagger import keys\n",
        "calibration/__init__.py": "",
        "policy_node/policy_node/__init__.py": "",
    }.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = _import_map().build_map(tmp_path)
    assert ["mtdagger.control", "mtdagger.perception"] in result.circles
    assert ["mtdagger.keys", "sim_bridge"] in result.circles
    assert ("mtdagger.keys", "sim_bridge") in result.back_up
    assert ("mtdagger.perception", "mtdagger.control") in result.back_up


def test_the_script_prints_the_map():
    command = [sys.executable, str(SCRIPT), "--root", str(ROOT)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "summary: rooms=" in out.stdout and "floors (" in out.stdout
