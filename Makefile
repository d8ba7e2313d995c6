# The few targets people type. `make demo` and `make test` each install what they need first.
PYTHON ?= python3

.PHONY: setup demo test test-fast lint typecheck bench-kernels gpu-check

setup:
	bash scripts/setup.sh

demo: setup
	interp demo

test: setup
	$(PYTHON) -m pytest

test-fast:
	$(PYTHON) -m pytest -m "not slow"

lint:
	ruff check . && ruff format --check .

typecheck:
	mypy

bench-kernels:
	interp bench kernels

gpu-check:
	bash scripts/gpu_check.sh
