# Two commands set up and use a fresh machine that has Python 3.11:
#   make run    installs into .venv (first time only) and runs the default example
#   make test   installs into .venv (first time only) and runs the test suite
# A normal (non-editable) install, as users get; reinstalled only when the sources change.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SOURCES := $(shell find flows tasks components catalogs config -name '*.py' -o -name '*.toml') pyproject.toml
EXAMPLE ?= config/spring2d.toml
UNTIL ?= simulate

.PHONY: run test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check "setuptools>=69" wheel
	$(BIN)/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	print('\n'.join(p['dependencies'] + p['optional-dependencies']['test']))" > $(VENV)/requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r $(VENV)/requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.deps $(SOURCES)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall .
	rm -rf build
	touch $@

run: $(VENV)/.installed
	$(BIN)/symdistill run $(EXAMPLE) --until $(UNTIL)

test: $(VENV)/.installed
	cd tests && ../$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build config/symdistill.zarr
