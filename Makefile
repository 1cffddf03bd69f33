# `make test` builds its own environments from pyproject.toml, then runs every check: ruff,
# mypy and pyright once; then, on every CPython >= 3.11 on this machine (tools/pythons.py), the
# whole suite against the wheel installed in an environment of its own (`make suite-3.12`),
# and the in-process suite with the lowest versions the project declares (`make floors-3.12`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The real-stack tests start a PostgreSQL cluster of their own with Debian's postgresql-15.
POSTGRES := /usr/lib/postgresql/15/bin/postgres

# VERSION=PATH words, oldest first; a claimed version this machine lacks is a loud skip (an
# error where CI is set).
PYTHONS := $(shell $(PYTHON) tools/pythons.py)
ifneq ($(.SHELLSTATUS),0)
$(error tools/pythons.py found no interpreter for a claimed Python version; see above)
endif
VERSIONS := $(foreach word,$(PYTHONS),$(firstword $(subst =, ,$(word))))
OLDEST := $(firstword $(VERSIONS))
NEWEST := $(lastword $(VERSIONS))
interpreter = $(word 2,$(subst =, ,$(filter $(1)=%,$(PYTHONS))))

# suite-VERSION and floors-VERSION name no files either, but a phony target skips pattern rules.
.PHONY: test test-deep lint typecheck pytest package run bench clean
.PRECIOUS: .venvs/%/.installed .venvs/floors/%/.installed .bench/%/.installed

test: lint typecheck $(addprefix suite-,$(VERSIONS)) $(addprefix floors-,$(VERSIONS))

# The development environment: the source tree, editable, on $(PYTHON).
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

# The whole suite on the source tree, in the development environment.
pytest: $(STAMP)
	$(BIN)/pytest

# The sdist and the wheel, their metadata checked, and the suite as a packager gets it: the
# sdist unpacked into build/suite without its lazgi/, so that only the installed wheel imports.
package: $(STAMP)
	rm -rf dist build/suite
	$(BIN)/python -m build --no-isolation --outdir dist . >/dev/null
	$(BIN)/twine check --strict dist/*
	mkdir -p build/suite
	tar -xzf dist/lazgi-*.tar.gz -C build/suite --strip-components=1
	rm -r build/suite/lazgi

.venvs/%/.installed: pyproject.toml | package
	rm -rf .venvs/$*
	$(call interpreter,$*) -m venv .venvs/$*
	.venvs/$*/bin/python -m pip install -q --upgrade pip
	.venvs/$*/bin/python -m pip install -q "$$(ls dist/*.whl)[test]"
	touch $@

# The real servers (tests/servers) run on the oldest and the newest Python only: they add about
# 2.5 minutes to each Python, and on every one make test would take over 20 minutes here.
# Everything else runs on each.
SERVERS_ON := $(sort $(OLDEST) $(NEWEST))

suite-%: .venvs/%/.installed package
	.venvs/$*/bin/python -m pip install -q --force-reinstall --no-deps dist/*.whl
	cd build/suite && LAZGI_INSTALLED=1 ../../.venvs/$*/bin/python -m pytest \
		$(if $(filter $*,$(SERVERS_ON)),,--ignore=tests/servers)

.venvs/floors/%/.installed: pyproject.toml tools/floors.py | package
	rm -rf .venvs/floors/$*
	$(call interpreter,$*) -m venv .venvs/floors/$*
	.venvs/floors/$*/bin/python -m pip install -q --upgrade pip packaging
	.venvs/floors/$*/bin/python tools/floors.py requirements >.venvs/floors/$*/requirements.txt
	.venvs/floors/$*/bin/python -m pip install -q -r .venvs/floors/$*/requirements.txt
	touch $@

floors-%: .venvs/floors/%/.installed package
	.venvs/floors/$*/bin/python -m pip install -q --force-reinstall --no-deps dist/*.whl
	.venvs/floors/$*/bin/python -m pip check
	cd build/suite && LAZGI_INSTALLED=1 ../../.venvs/floors/$*/bin/python -m pytest \
		$$(../../.venvs/floors/$*/bin/python tools/floors.py pytest-args)

# The model-based test with 2,000 examples per backend instead of make test's 30.
test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/pytest tests/test_model.py --no-cov -p no:cacheprovider --timeout=3600

run: $(STAMP)
	$(BIN)/uvicorn examples.main:app --host 127.0.0.1 --port 8000

# The benchmarks run on the oldest and the newest Python, each in an environment of its own,
# with lazgi 0.1.0 unpacked beside them, and use valgrind and wrk from Debian where they can
# be installed; BENCHMARKS.md shows the two side by side.
BENCH_VERSIONS := $(sort $(OLDEST) $(NEWEST))

.bench/%/.installed: pyproject.toml
	rm -rf .bench/$*
	$(call interpreter,$*) -m venv .bench/$*
	.bench/$*/bin/python -m pip install -q --upgrade pip
	.bench/$*/bin/python -m pip install -q -e '.[bench]'
	touch $@

.bench/old/site:
	$(PYTHON) -m pip download -q --no-deps lazgi==0.1.0 -d .bench/old
	$(PYTHON) -m zipfile -e .bench/old/lazgi-0.1.0-py3-none-any.whl .bench/old/site
	command -v wrk >/dev/null && command -v valgrind >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq wrk valgrind >/dev/null; } || \
		echo "wrk or valgrind could not be installed: those rows will say so"

bench: $(foreach version,$(BENCH_VERSIONS),.bench/$(version)/.installed) .bench/old/site
	for version in $(BENCH_VERSIONS); do \
		timeout 1800 .bench/$$version/bin/python -m benchmarks.bench --json .bench/$$version.json \
			|| exit 1; \
	done  # a hung subject fails, not hangs
	.bench/$(NEWEST)/bin/python -m benchmarks.bench --combine \
		$(foreach version,$(BENCH_VERSIONS),.bench/$(version).json)

clean:
	rm -rf $(VENV) .venvs .bench dist build .coverage .pytest_cache .mypy_cache .ruff_cache
