# modelwatch: every target bootstraps what it needs from a fresh checkout.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The tools (aws-sam-cli, cfn-lint, checkov, bandit, pip-audit) live in their own venv: they pin boto3, click,
# packaging and pydantic at versions that clash with the runtime lock. ruff and mypy come from the runtime lock.
TOOLS_VENV := .venv-tools
TOOLS := $(TOOLS_VENV)/bin
TOOLS_STAMP := $(TOOLS_VENV)/.installed

export NML_DISABLE_USAGE_LOGGING := 1
# LightGBM (DLE): spin-waiting OpenMP threads make repeated fits in one process crawl on a busy machine.
export OMP_WAIT_POLICY := PASSIVE
export POWERTOOLS_METRICS_NAMESPACE ?= ModelWatch
export POWERTOOLS_SERVICE_NAME ?= modelwatch
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help venv demo test test-312 test-fast check bench clean tools check-lint check-types check-imports check-security \
	check-audit check-template check-rehearsal check-asl check-wheels check-build check-image check-report

help:
	@echo "make demo   run the whole pipeline on an embedded AWS (moto): three models, an A/B test, alarms, notifications"
	@echo "make test   unit, integration and end-to-end tests"
	@echo "make check  lint, types, security, template, ASL, build and supply-chain checks"
	@echo "make bench  benchmarks (<10 min), writes BENCHMARKS.md tables, benchmarks/results/all.json and scaling.png"

venv: $(STAMP)

# uv installs the locks into all three venvs (pip's --no-deps semantics, parallel downloads, cache in ~/.cache/uv):
# the same pins in a fraction of pip's time. Its own pin is in requirements/dev.lock; the venv's pip (which the
# checks still use: pip download, pip install --target) bootstraps it into .venv.
UV := $(VENV)/bin/uv
UV_PIN = $(shell grep -m1 -xE 'uv==[0-9.]+' requirements/dev.lock)
# --python: the venv to install into; --no-deps: the lock is complete, nothing resolves at install time.
UV_INSTALL := $(UV) pip install --quiet --no-deps --python

$(UV): requirements/dev.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	@test -n "$(UV_PIN)" || { echo "error: no uv==X.Y.Z pin in requirements/dev.lock"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(UV_PIN)
	touch $@

# Pinned, complete lock installed with --no-deps: nothing resolves at install time, nothing drifts.
$(STAMP): requirements/dev.lock pyproject.toml $(UV)
	$(UV_INSTALL) $(PY) -r requirements/dev.lock
	$(UV_INSTALL) $(PY) --no-build-isolation -e .
	touch $@

# The embedded stack enforces IAM with the roles SAM would create: the SAM translator (tools venv) expands them.
demo: $(STAMP) $(TOOLS_STAMP)
	$(VENV)/bin/modelwatch demo

# Tests run in one worker per core (pytest-xdist), each test file kept on one worker (its module fixtures built
# once); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= auto
PYTEST := -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

test: $(STAMP) $(TOOLS_STAMP)
	$(PY) $(PYTEST) tests
	@$(MAKE) --no-print-directory test-312

# The Lambda runtime is python3.12: the unit tests run on it too, when the machine has one (pyenv's counts).
# (pyenv's shim on PATH answers "command not found" unless 3.12 is selected: each candidate is tried.)
PYTHON312 ?= $(shell for p in $$(command -v python3.12) $$(ls -d $(HOME)/.pyenv/versions/3.12*/bin/python3.12 \
	2>/dev/null | sort -r); do $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && echo $$p && break; done)
VENV312 := .venv-312
STAMP312 := $(VENV312)/.installed

$(STAMP312): requirements/dev.lock pyproject.toml $(UV)
	test -x $(VENV312)/bin/python || $(PYTHON312) -m venv $(VENV312)
	$(UV_INSTALL) $(VENV312)/bin/python -r requirements/dev.lock
	$(UV_INSTALL) $(VENV312)/bin/python --no-build-isolation -e .
	touch $@

test-312:
	@if [ -z "$(PYTHON312)" ]; then \
		echo "make test: no Python 3.12 (the Lambda runtime's) on this machine: unit tests on 3.12 SKIPPED"; \
	else \
		$(MAKE) --no-print-directory $(STAMP312) && \
		echo "make test: unit tests on $$($(VENV312)/bin/python --version) (the Lambda runtime's)" && \
		$(VENV312)/bin/python $(PYTEST) tests/unit; \
	fi

test-fast: $(STAMP)
	$(PY) $(PYTEST) tests/unit

# ---------------------------------------------------------------- checks
LINT_PATHS := layers/modelwatch/modelwatch cli functions tests benchmarks checks
# What Lambda runs (a known vulnerability there fails the check) and what only developers and CI run (reported).
SHIPPED_REQUIREMENTS := requirements/layer.txt functions/analyse/requirements.txt
DEV_REQUIREMENTS := requirements/dev.lock requirements/tools.lock
export SAM_CLI_TELEMETRY := 0

tools: $(TOOLS_STAMP)

$(TOOLS_STAMP): requirements/tools.lock $(UV)
	test -x $(TOOLS)/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(UV_INSTALL) $(TOOLS)/python -r requirements/tools.lock
	touch $@

# The checks are independent of each other: they run CHECK_JOBS at a time (one per core), the longest first so the
# short ones fill in beside them; --output-sync=target prints each check's output whole when it ends. Alone, on a
# fresh clone (2 cores): audit 26 s (mostly waiting on PyPI), image 21, build 16, template 15, report 15, types 12,
# wheels 9, the rest under 3 each.
CHECKS := check-audit check-image check-build check-template check-report check-types check-wheels check-security \
	check-rehearsal check-imports check-lint check-asl
CHECK_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

check:
	@$(MAKE) --no-print-directory -j$(CHECK_JOBS) --output-sync=target all-checks
	@echo "make check: all checks passed"

.PHONY: all-checks
all-checks: $(CHECKS)

check-lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

check-types: $(STAMP)
	$(PY) -m mypy

# The layering (import-linter contracts in pyproject.toml) and no function-level import dodging a cycle.
check-imports: $(STAMP)
	$(PY) -m checks.imports --lint-imports $(VENV)/bin/lint-imports

check-security: $(TOOLS_STAMP)
	$(TOOLS)/bandit -q -c pyproject.toml -r layers/modelwatch/modelwatch cli functions

check-audit: $(STAMP) $(TOOLS_STAMP)
	$(PY) -m checks.audit --pip-audit $(TOOLS)/pip-audit --shipped $(SHIPPED_REQUIREMENTS) --dev $(DEV_REQUIREMENTS)

# sam validate translates the template offline (a region is all it needs) and, with --lint, runs cfn-lint on it.
check-template: $(TOOLS_STAMP)
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(TOOLS)/sam validate --lint --template template.yaml
	$(TOOLS)/cfn-lint template.yaml
	$(TOOLS)/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

# Deploy rehearsal: the names of the SAM-translated template for a 60-character stack name against AWS's limits, and
# no `arn:aws:` literal in the template, ASL, runtime package, handlers or CLI.
check-rehearsal: $(STAMP) $(TOOLS_STAMP)
	MODELWATCH_SAM_PYTHON=$(TOOLS)/python $(PY) -m checks.rehearsal template.yaml

check-asl: $(STAMP)
	$(PY) -m checks.asl

check-wheels: $(STAMP)
	$(PY) -m checks.platform_wheels requirements/layer.txt functions/analyse/requirements.txt

check-build: $(STAMP) $(TOOLS_STAMP)
	$(PY) -m checks.build_sizes --sam $(TOOLS)/sam

check-image: $(STAMP)
	$(PY) -m checks.estimator_image --uv $(UV)

# The run's HTML report renders in headless Chromium (Debian's package, installed here when missing; needs root).
check-report: $(STAMP)
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "error: chromium not found and not root: install Debian's chromium (apt-get install chromium)"; exit 1; \
		fi; \
		echo "installing chromium (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	}
	$(PY) -m checks.report_render

bench: $(STAMP) $(TOOLS_STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(VENV312) .venv-tools .aws-sam .check-cache .pytest_cache .mypy_cache .ruff_cache
