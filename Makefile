# suanli — two commands on a fresh machine:  make demo  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install serve bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Install into .venv, migrate the embedded SQLite database, load the demo network, serve UI + API.
demo: $(STAMP)
	$(BIN)/suanli demo

serve: $(STAMP)
	$(BIN)/suanli serve

## The whole suite, on SQLite and on the local PostgreSQL server.
test: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/catalog_search.py

clean:
	rm -rf $(VENV) .suanli .pytest_cache
