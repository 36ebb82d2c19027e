# Two entry points (see README): `make repro` and `make test`.
# The venv is rebuilt from requirements.lock whenever the lock or pyproject changes.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
UV_VERSION := 0.13.8

# DVC runs the first `python` on PATH: put the venv first. Keep telemetry off.
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export UV_COMPILE_BYTECODE := 1

.PHONY: venv repro test lint lock bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip sync -q --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $@

repro: venv
	$(BIN)/dvc repro
	$(BIN)/python docs/make_results.py

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Re-resolve the pins (needs the package index); commit the result.
lock:
	uv pip compile pyproject.toml --extra dev --extra bench --python-version 3.11 -o requirements.lock

bench: venv
	$(BIN)/python benchmarks/run_pipeline.py

clean:
	rm -rf $(VENV)
