# The README's two commands: `make demo` and `make test`. Both set up .venv first (idempotent).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mtdagger-installed
DEMO_DIR ?= runs/demo
export MUJOCO_GL ?= egl

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $(STAMP)

demo: setup
	$(BIN)/mtdagger rollout --sim metaworld --tasks mt10 --policy expert --episodes 2 --workers 2 --out $(DEMO_DIR)/rollout

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/mtdagger bench perception
	$(BIN)/mtdagger bench sim

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
