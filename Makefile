# Two commands set up and run everything on a fresh machine:
#   make run    trains configs/mnist_m2.py into workdirs/mnist_m2
#   make test   runs the test suite
#   make lint   checks style with ruff (installs it on first use)
# The first use creates .venv and installs the package with pinned versions.

PYTHON ?= python3
VENV ?= .venv
CONFIG ?= configs/mnist_m2.py
WORKDIR ?= workdirs/$(basename $(notdir $(CONFIG)))
ARGS ?=
PYTEST_ARGS ?=

STAMP := $(VENV)/.installed

.PHONY: run test lint install clean

$(STAMP): pyproject.toml requirements-lock.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c requirements-lock.txt -e '.[test]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python -m experiments.train --config=$(CONFIG) \
	  --workdir=$(WORKDIR) $(ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n 2 --dist worksteal --durations=15 $(PYTEST_ARGS) tests

lint: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -c requirements-lock.txt -e '.[lint]'
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV)
