# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv on first use (Python 3.11, offline-capable: PyPI only).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.corpusmill-installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	VENV=$(VENV) PYTHON=$(PYTHON) bash scripts/install.sh
	touch $(STAMP)

demo: setup
	$(BIN)/corpusmill run configs/demo.yaml
	$(BIN)/corpusmill inspect out/demo

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf out .pytest_cache
