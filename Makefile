# The two commands of the quick start: `make demo` and `make test`.
# Both build .venv from the hash-pinned lock on a fresh machine (Python 3.11 + pip only).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/dev.lock
# Only the public index: a machine-wide pip.conf with extra indexes or find-links must not
# change what the lock resolves to.
PIPENV := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: venv demo test lint fmt bench lock audit clean chromium

$(STAMP): $(LOCK) requirements/build.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIPENV) $(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/build.lock -r $(LOCK)
	$(PIPENV) $(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/trailhound demo --out demo-out

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The report's browser test drives Debian's chromium (no browser download). Installed only
# when missing and only as root; otherwise that test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || echo "chromium not installed (not root): the report's browser test will skip"; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

# Re-resolve the locks (needs network to PyPI and pip-tools in the venv); commit the result.
lock:
	$(PIPENV) $(BIN)/pip install --quiet pip-tools
	$(PIPENV) $(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-find-links --no-emit-index-url -o requirements/main.lock pyproject.toml
	$(PIPENV) $(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-find-links --no-emit-index-url --extra dev -o requirements/dev.lock pyproject.toml
	$(PIPENV) $(BIN)/pip-compile -q --generate-hashes --allow-unsafe \
	  --no-emit-find-links --no-emit-index-url -o requirements/build.lock requirements/build.in

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache test-artifacts
