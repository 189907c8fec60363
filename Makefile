# The README's two commands. Each builds .venv on first use, so either works on a fresh clone.
#
#   make test   lint + the test suite
#   make demo   the end-to-end demo (not built yet: prints its plan and fails)
#
# TORCH pins the PyTorch pair installed before the project. The default is the pair that lies on
# the project's CPU machines' local disk; elsewhere pick the build you need, e.g.
#   make test TORCH="torch torchvision --index-url https://download.pytorch.org/whl/cu128"

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.14.1 torchvision==0.29.1
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	@echo "make demo will: write the synthetic 'demo' federation (holistic synth),"
	@echo "convert it to shards (holistic federate), train FaceBehaviorNet with"
	@echo "'accelerate launch recipes/facebehaviornet.py', evaluate it and run zero-shot compound"
	@echo "expressions, leaving runs/demo/report.md."
	@echo "ERROR: the demo is not built yet (see the open issues: synthetic world, federation,"
	@echo "FaceBehaviorNet end to end). Nothing was run." >&2
	@exit 1

clean-venv:
	rm -rf $(VENV)
