# suanli — two commands on a fresh machine:  make demo  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

.PHONY: demo test install serve bench clean

# The application alone (what `make demo` needs).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(STAMP)

# Plus the test and benchmark tools (pytest, hypothesis, Ray for the real-cluster tests, HiGHS, matplotlib).
$(DEV): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(DEV)

install: $(STAMP)

## Install into .venv, migrate the embedded SQLite database, load the demo network, run a demo job, serve UI + API.
demo: $(STAMP)
	$(BIN)/suanli demo

serve: $(STAMP)
	$(BIN)/suanli serve

## The whole suite: SQLite and the local PostgreSQL server; real Slurm and Ray clusters started by the tests.
## One process by default: two pytest-xdist workers (`make test TEST_WORKERS=2`; tests sharing a module's server or
## the real clusters stay on one worker, tests/conftest.py) took as long on these two cores (42:57 for 2,584 tests)
## and made timing and throttling tests flaky. The 25 slowest tests are listed at the end.
TEST_WORKERS ?= 0
test: $(DEV)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

bench: $(DEV)
	$(BIN)/python bench/catalog_search.py

clean:
	rm -rf $(VENV) .suanli .pytest_cache
