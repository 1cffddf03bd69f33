# `make test` builds its own environment in .venv from pyproject.toml, then runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The real-stack tests start a PostgreSQL cluster of their own with Debian's postgresql-15.
POSTGRES := /usr/lib/postgresql/15/bin/postgres

.PHONY: test test-deep lint typecheck pytest run bench clean

test: lint typecheck pytest

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	command -v valgrind >/dev/null && command -v ab >/dev/null && test -x $(POSTGRES) || \
		{ apt-get update -qq && apt-get install -y -qq valgrind apache2-utils postgresql-15 >/dev/null; }
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/pyright

pytest: $(STAMP)
	$(BIN)/pytest

# The model-based test with 2,000 examples per backend instead of make test's 30.
test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/pytest tests/test_model.py --no-cov -p no:cacheprovider --timeout=3600

run: $(STAMP)
	$(BIN)/uvicorn examples.main:app --host 127.0.0.1 --port 8000

# The benchmarks have an environment of their own, with lazgi 0.1.0 unpacked beside it, and
# use valgrind and wrk from Debian where they can be installed.
BENCH := .bench
BENCH_STAMP := $(BENCH)/venv/.installed

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH)/venv
	$(BENCH)/venv/bin/python -m pip install -q --upgrade pip
	$(BENCH)/venv/bin/python -m pip install -q -e '.[bench]'
	$(BENCH)/venv/bin/python -m pip download -q --no-deps lazgi==0.1.0 -d $(BENCH)/old
	$(BENCH)/venv/bin/python -m zipfile -e $(BENCH)/old/lazgi-0.1.0-py3-none-any.whl $(BENCH)/old/site
	command -v wrk >/dev/null && command -v valgrind >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq wrk valgrind >/dev/null; } || \
		echo "wrk or valgrind could not be installed: those rows will say so"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	timeout 1800 $(BENCH)/venv/bin/python -m benchmarks.bench  # a hung subject fails, not hangs

clean:
	rm -rf $(VENV) $(BENCH) .coverage .pytest_cache .mypy_cache .ruff_cache
