# kd-teach: make run | make test | make lab | make setup
# `make run ROWS=distilbert` adds the DistilBERT chapter's rows to the same results table.
# Override the torch spec for another platform, e.g. `make setup TORCH_SPEC="torch==2.13.0+cu128"`.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PRESET     ?= cpu
ROWS       ?= spine
BIN        := $(VENV)/bin

# Local data (SST-2, corpus): $KD_TEACH_DATA_DIR if set, else ../shared/data when it exists.
KD_TEACH_DATA_DIR ?= $(abspath $(wildcard ../shared/data))
ifneq ($(KD_TEACH_DATA_DIR),)
export KD_TEACH_DATA_DIR
endif
STAMP      := $(VENV)/.kd-teach-installed

.PHONY: setup run test test-fast lab notebooks exercises clean

setup: $(STAMP)

# torch first, pinned: an unpinned torch pulled in by another package can be a multi-GB CUDA build.
# pip byte-compiles on one core; compileall -j 0 does it on every core (the set-up: 120 s instead of 158 s on 2 cores).
# It exits 1 on the few files that need a newer Python (torch's py312 tests), which pip also skips.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --no-compile -e ".[test]"
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null || true
	touch $(STAMP)

run: setup
	$(BIN)/kd-teach run sst2 --preset $(PRESET) --rows $(ROWS)

# KD_TEACH_TEST_ORDER=reverse (or random:<seed>) make test: the same suite in another order.
test: setup
	$(BIN)/python -m pytest

# The fast tier: unit and property tests (2.5 minutes on 2 cores, within its 3-minute budget): no notebooks, no browser, nothing
# marked slow (the smoke pipeline runs, the command line in a subprocess, the deployment of saved models, the data-parallel
# launch, the exercise notebooks).
test-fast: setup
	$(BIN)/python -m pytest tests -m "not slow" --ignore=tests/test_browser.py

# Re-create notebooks/*.ipynb from their jupytext sources and execute them at $(PRESET): the stored
# outputs a learner reads. `make notebooks` (PRESET=cpu) takes about an hour on 2 cores with the
# teachers cached; NB=04_distilbert redoes one; PRESET=smoke checks them all in about 8 minutes.
# Progress bars are off (TQDM_DISABLE) so no stderr debris is stored.
NB ?= $(patsubst notebooks/%.py,%,$(wildcard notebooks/[0-9]*.py))
notebooks: setup
	for nb in $(NB); do \
	  $(BIN)/jupytext --to ipynb "notebooks/$$nb.py" && \
	  KD_TEACH_PRESET=$(PRESET) TQDM_DISABLE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1 \
	    $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=3600 "notebooks/$$nb.ipynb" || exit 1; \
	done

# Re-create exercises/ (and solutions/*.ipynb) from the solution notebooks in solutions/*.py; the solution
# notebooks rewritten are run and stored with their outputs (every checker's line), for a teacher to read.
exercises: setup
	$(BIN)/kd-teach exercises build

# Jupyter refuses to run as root unless told; containers often run as root.
lab: setup
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

clean:
	rm -rf runs .pytest_cache
