# The two commands a new user needs: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ANVIL  := node_modules/.package-lock.json

.PHONY: install demo test lint bench clean devnet-stop

install: $(STAMP) $(ANVIL)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(ANVIL): package.json package-lock.json
	npm install --no-audit --no-fund --ignore-scripts --no-save
	test -x node_modules/@foundry-rs/anvil-*/bin/anvil

# The demo keeps everything under .devnet/ (its store, its Dagster instance): never the
# default store (.data/) or a DAGSTER_HOME that a real deployment uses.
demo: install
	exec $(BIN)/polygon-pipeline demo $(DEMO_ARGS)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check polygon_pipeline polygon_pipeline_tests bench

bench: install
	$(BIN)/python -m bench.run_all

devnet-stop:
	$(BIN)/polygon-pipeline devnet stop

clean:
	rm -rf $(VENV) node_modules .devnet .pytest_cache  # never .data/: a real store may live there
