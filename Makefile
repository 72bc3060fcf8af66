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

# The main job: train the demo point-cloud preset (3 easy MT10 tasks, trained with depth noise and
# camera randomisation) -> deploy the checkpoint with RealSense-like depth noise while recording an
# evaluation bag -> success report. Re-running resumes/refreshes in place.
DEMO_CONFIG ?= configs/mt10-pointcloud-demo.yaml
demo: setup
	$(BIN)/mtdagger train --config $(DEMO_CONFIG) --out $(DEMO_DIR)/train \
		$$(test -f $(DEMO_DIR)/train/config.yaml && echo --resume)
	rm -rf $(DEMO_DIR)/bag $(DEMO_DIR)/report
	$(BIN)/mtdagger deploy --checkpoint $(DEMO_DIR)/train/checkpoints/final \
		--config $(DEMO_CONFIG) --episodes 2 --noise realsense --record $(DEMO_DIR)/bag
	$(BIN)/mtdagger report $(DEMO_DIR)/bag --out $(DEMO_DIR)/report

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/mtdagger bench perception
	$(BIN)/mtdagger bench sim

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
