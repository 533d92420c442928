# summarytool and its workstation image. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
# The torch the local venv gets. The image pins its own (2.8.0) through its lock file.
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: help venv demo test test-unit lint bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet "$(TORCH_SPEC)"
	$(VENV)/bin/pip install --quiet -e '.[test,gpu]'
	touch $@

venv: $(VENV)/.installed ## create .venv with torch and summarytool (editable)

demo: venv ## the main job: check this machine's GPU stack and summarise the reference model
	$(VENV)/bin/summarytool selfcheck --allow-cpu

test: venv ## lint and run every test
	$(MAKE) lint
	$(PY) tests/run.py

test-unit: venv ## the Python tests only (no image)
	$(PY) -m pytest -q -m "not image"

lint: venv ## ruff on the package, tests and benchmarks
	$(VENV)/bin/ruff check summarytool tests bench
	$(VENV)/bin/ruff format --check summarytool tests bench

bench: venv ## the speed benchmark against torchinfo (prints a table)
	$(PY) bench/bench_speed.py

clean: ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info
