# MathCritique — the two commands a newcomer needs:
#   make demo   set up (if needed) and run self-improvement + evaluation on the embedded default
#   make test   set up (if needed) and run the test suite
PYTHON ?= .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast bench clean-runs

setup:
	bash scripts/setup_env.sh all

demo: setup
	bash selfimprove/inference-all.sh

test: setup
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)

# the unit tests only (no model, seconds)
test-fast: setup
	$(PYTHON) -m pytest tests -m "not integration" $(PYTEST_ARGS)

bench: setup
	$(PYTHON) scripts/bench_grader.py
	$(PYTHON) scripts/bench_pipeline.py

clean-runs:
	rm -rf runs
