# The README's commands. `make run` installs what training needs; `make test` adds the test extras
# (pytest, torch for the parity tests, tensorflow-datasets); both pinned by a constraints file whose
# every pin is a public release (scripts/check_pins.py, tests/test_constraints.py).
#
# Python 3.11 by default: on 3.11 the newest jax is 0.10.2. `make test-py312` tests the other
# setting: Python 3.12, jax 0.11.2 (the GPU image's), and neither TensorFlow nor torch installed.
PYTHON ?= python3.11
VENV ?= .venv
CONSTRAINTS ?= constraints/py3.11.txt
TEST_EXTRAS ?= test,torch,tfds
BIN := $(VENV)/bin
PYTHON312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.12)
# The offline IDX files, where this checkout sits beside ../shared (as here and in CI).
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)/mnist),)
export JAXMNIST_DATA ?= $(SHARED_DATA)
endif

.PHONY: run test test-fast test-py312 setup clean

setup: $(VENV)/.installed-run

$(VENV)/.installed-run: pyproject.toml $(CONSTRAINTS)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; run make PYTHON=/path/to/python"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[$(TEST_EXTRAS)]'
	touch $@

# Train notebook 003's LeNet for one epoch (shortened from 10) and print its test accuracy.
run: $(VENV)/.installed-run
	$(BIN)/jaxmnist train lenet/lenet --epochs 1 --workdir workdirs/lenet-1epoch

# Two pytest workers (pytest-xdist), a test file each at a time: most tests wait on one core for a
# process to import and compile. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
TEST_SELECTION ?=
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(TEST_SELECTION)

# The quick tier: a model, a train step, a checkpoint, a schedule, an augmentation, the CLI.
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -m fast

# The suite under Python 3.12 with jax 0.11.2 and no TensorFlow or torch (their tests skip), less what
# the 3.11 run covers in minutes: what commands write and say, every recipe's two smoke steps, the
# device session's rehearsal and the loop's data-parallel and resume tests (the models, steps,
# programs and the loop they use are tested here, the loop through the groups of runs).
PY312_LEAVES_OUT := --ignore=tests/test_experiments_run.py --ignore=tests/test_accelerator_check.py \
	--ignore=tests/test_train.py
test-py312:
	$(MAKE) test PYTHON=$(PYTHON312) VENV=.venv-py312 CONSTRAINTS=constraints/py3.12-jax0.11.txt TEST_EXTRAS=test \
		TEST_SELECTION='-m "not files_and_messages" $(PY312_LEAVES_OUT)'

clean:
	rm -rf $(VENV) .venv-py312 workdirs .pytest_cache
