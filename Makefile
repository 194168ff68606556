# Two entry points that set everything up by themselves on a fresh machine:
#   make quick   every section and figure at toy scale (the quick profile), offline, on a CPU
#   make test    the test suite (what CI runs)
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: quick test install clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -qq -e ".[test]"
	touch $@

install: $(VENV)/.installed

quick: install
	snakemake --profile profiles/quick

test: install
	python -m pytest -q

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
