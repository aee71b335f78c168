# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv on first use (Python 3.11, offline-capable: PyPI only).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.corpusmill-installed

.PHONY: setup demo test check lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	VENV=$(VENV) PYTHON=$(PYTHON) bash scripts/install.sh
	touch $(STAMP)

QUALITY_MODEL := models/quality/sample-hq-vs-rendered.bin

# The demo's quality classifier, trained from the bundled sample (about 10 s, once).
$(QUALITY_MODEL): $(STAMP) configs/quality-train.yaml data/sample/python-docs.jsonl.zst data/sample/python-docs-rst/rst_sources.jsonl.zst
	$(BIN)/corpusmill train-quality configs/quality-train.yaml

demo: setup $(QUALITY_MODEL)
	$(BIN)/corpusmill run configs/demo.yaml --overwrite
	$(BIN)/corpusmill inspect out/demo

# Two test processes; tests sharing a costly fixture stay in one (tests/conftest.py). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup

test: setup
	$(PYTEST) tests

# The edit loop: lint, then every test not marked slow (no vLLM engine, no end-to-end demo run).
check: lint
	$(PYTEST) -m "not slow" tests

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf out .pytest_cache
