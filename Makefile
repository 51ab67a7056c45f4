# petlesson: `make run` sets everything up and runs the main job; `make test` runs every test.
# VENV may point outside the clone (CI caches it there). TORCH_SPEC pins the torch build pip installs first.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
BIN        := $(VENV)/bin
DEPS_HASH  := $(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
STAMP      := $(VENV)/.petlesson-deps-$(DEPS_HASH)
NB_WORKERS ?= 2
ARGS       ?=

export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
export MPLBACKEND ?= Agg
# The real sample's photos: this project's checkout has a copy beside it in ../shared (a user's clone does not,
# and then the lessons find the photos elsewhere or fall back to the synthetic sample).
SHARED_PHOTOS := $(abspath $(CURDIR)/../shared/data/oxford-iiit-pet-370)
export PETLESSON_PHOTOS ?= $(if $(wildcard $(SHARED_PHOTOS)/images),$(SHARED_PHOTOS))

.PHONY: setup run test nbtest nbtest-synthetic pytest export docs readme colab outputs bench

$(STAMP):
	@echo "== creating the environment in $(VENV) (first time: a few minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=77" wheel
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.petlesson-deps-*
	touch $(STAMP)

setup: $(STAMP)
	@$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 \
	  || $(BIN)/python -m pip install --no-deps --no-build-isolation -e .

run: setup
	$(BIN)/petlesson $(ARGS)

# nbdev-test runs every notebook on the synthetic sample (the offline fallback must keep working); the kernel test in
# pytest runs every notebook again on the default data (the real sample) from an empty folder, as Colab does.
test: setup nbtest-synthetic pytest

# Tests run notebooks two at a time on small machines: one torch thread each, or they fight over the cores
# (measured on 2 cores under load: 2 threads trained at about 6 img/s, 1 thread at about 27 img/s).
nbtest nbtest-synthetic pytest: export OMP_NUM_THREADS ?= 1

nbtest: setup
	$(BIN)/nbdev-test --n-workers $(NB_WORKERS) --timing

nbtest-synthetic: setup
	PETLESSON_DATA=synthetic $(BIN)/nbdev-test --n-workers $(NB_WORKERS) --timing

pytest: setup
	$(BIN)/python -m pytest

export: setup
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

# The docs site, offline and without Quarto: nbdev's doc processors + nbconvert, into _site/ (open _site/index.html).
# The published site is Quarto's (`nbdev-docs`, .github/workflows/deploy.yaml).
docs: setup
	$(BIN)/python tools/docs.py build --out _site --n-workers $(NB_WORKERS)

# README.md is generated from nbs/index.ipynb (tests/test_docs.py checks that it is in step).
readme: setup
	$(BIN)/python tools/docs.py readme

# The Colab setup cell and 'Open in Colab' badge: `make colab` for every notebook, or `make colab NBS=nbs/03_x.ipynb`.
NBS ?=
colab: setup
	$(BIN)/python tools/colab.py $(NBS)
	$(BIN)/nbdev-clean

# Save a notebook's outputs from a real Jupyter kernel, widget state included (`nbdev-test --save` cannot store
# widget state), then nbdev-clean it: `make outputs NBS="nbs/03_cross_entropy.ipynb nbs/04_lr_find.ipynb"`.
outputs: setup
	$(BIN)/python tools/kernel.py $(or $(NBS),$(wildcard nbs/*.ipynb))

bench: setup
	$(BIN)/python bench/presizing.py
	$(BIN)/python bench/training.py
	$(BIN)/python bench/one_pass_quality.py
