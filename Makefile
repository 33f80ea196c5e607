# The two commands of the README. Both create/reuse .venv and install the package with its extras.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The offline IDX files, where this checkout sits beside ../shared (as here and in CI).
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)/mnist),)
export JAXMNIST_DATA ?= $(SHARED_DATA)
endif

.PHONY: run test setup clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; run make PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch==2.13.0 is the CPU build (the [torch] extra pins it); it runs the PyTorch parity tests.
	$(BIN)/python -m pip install --quiet -e '.[test,torch]'
	touch $@

# Train notebook 003's LeNet for one epoch (shortened from 10) and print its test accuracy.
run: setup
	$(BIN)/jaxmnist train lenet/lenet --epochs 1 --workdir workdirs/lenet-1epoch

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) workdirs .pytest_cache
