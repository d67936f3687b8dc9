# MathCritique — the commands a newcomer needs:
#   make demo   set up (if needed), train a critic, then critique-in-the-loop self-improvement with it
#               and the evaluation, on the embedded default (selfimprove/presets/demo.env)
#   make test   set up (if needed) and run the test suite
#   make lint   ruff (lint + format check) and mypy over the code, scripts and tests
PYTHON ?= .venv/bin/python
PYTEST_ARGS ?=
# pytest marker expression, e.g. PYTEST_MARKERS="not timing" (CI deselects wall-clock tests)
PYTEST_MARKERS ?=
LINT_PATHS = selfimprove scripts tests

.PHONY: setup setup-inference demo test test-fast lint bench clean-runs

setup:
	bash scripts/setup_env.sh all

setup-inference:
	bash scripts/setup_env.sh inference

DEMO_PRESET ?= selfimprove/presets/demo.env
# the critic of the self-improvement loop: likelihood (critic/likelihood/, the likelihood critic) or
# model (critic/model/, the fine-tuned generative critic); both are compared in critic/eval/
DEMO_CRITIC ?= likelihood
demo: setup
	PRESET=$(DEMO_PRESET) bash selfimprove/critic-all.sh
	PRESET=$(DEMO_PRESET) critic_model_name="$${RUNS_DIR:-$(CURDIR)/runs}/$${EXP_NUM:-demo}/critic/$(DEMO_CRITIC)" \
	  bash selfimprove/inference-all.sh

# tests run offline: the embedded model is local, and nothing may wait on the network
test: setup
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest tests $(if $(PYTEST_MARKERS),-m "$(PYTEST_MARKERS)") $(PYTEST_ARGS)

# the unit tests only (no model, seconds)
test-fast: setup
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest tests -m "not integration$(if $(PYTEST_MARKERS), and ($(PYTEST_MARKERS)))" $(PYTEST_ARGS)

lint: setup-inference
	$(PYTHON) -m ruff check $(LINT_PATHS)
	$(PYTHON) -m ruff format --check $(LINT_PATHS)
	$(PYTHON) -m mypy $(LINT_PATHS)

bench: setup
	$(PYTHON) scripts/bench_grader.py
	$(PYTHON) scripts/bench_pipeline.py

clean-runs:
	rm -rf runs
