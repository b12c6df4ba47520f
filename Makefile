# modelwatch: every target bootstraps what it needs from a fresh checkout.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export NML_DISABLE_USAGE_LOGGING := 1
export POWERTOOLS_METRICS_NAMESPACE ?= ModelWatch
export POWERTOOLS_SERVICE_NAME ?= modelwatch
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help venv demo test test-fast check bench clean

help:
	@echo "make demo   run the whole pipeline on an embedded AWS (moto): three models, alarms, notifications"
	@echo "make test   unit, integration and end-to-end tests"
	@echo "make check  lint, types, security, template, ASL, build and supply-chain checks"
	@echo "make bench  benchmarks, writes BENCHMARKS.md tables and benchmarks/results.json"

venv: $(STAMP)

# Pinned, complete lock installed with --no-deps: nothing resolves at install time, nothing drifts.
$(STAMP): requirements/dev.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/dev.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

demo: $(STAMP)
	$(VENV)/bin/modelwatch demo

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

bench: $(STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) .venv-tools .aws-sam .pytest_cache .mypy_cache .ruff_cache
