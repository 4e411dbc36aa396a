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

.PHONY: venv demo test test-slow test-spark lint fmt bench lock audit clean chromium

# Build tools first: PySpark ships as a source distribution only, and builds with the pinned
# setuptools of build.lock (no build isolation, which would fetch an unpinned one).
$(STAMP): $(LOCK) requirements/build.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIPENV) $(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/build.lock
	$(PIPENV) $(BIN)/pip install --quiet --require-hashes --no-deps --no-build-isolation -r $(LOCK)
	$(PIPENV) $(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/trailhound demo --out demo-out

# `make test`: lint and every test but the slow end-to-end ones and the Apache Spark suite,
# under 10 minutes on 2 cores from a bare clone (bench/RESULTS.md). `make test-slow`: the
# end-to-end suites marked `slow` (hostile logs, kill points, full disk, whole scenarios).
# `make test-spark`: the Spark engine's suite (a JVM in local mode). CI runs all three
# (.ci/run). Skipped tests are listed with why (-rs).
test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not spark and not slow"

test-slow: $(STAMP) chromium
	$(BIN)/python -m pytest -m "slow and not spark"

test-spark: $(STAMP)
	$(BIN)/python -m pytest -m spark

# The report's browser test drives Debian's chromium (no browser download). Installed only
# when missing and only as root; otherwise that test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || echo "chromium not installed (not root): the report's browser test will skip"; }

# What CI enforces. (The code base is not `ruff format`ted yet; adopting it is one
# mechanical commit of its own.)
lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/hunt.py

# Re-resolve the locks (needs network to PyPI and pip-tools in the venv); commit the result.
lock:
	$(PIPENV) $(BIN)/pip install --quiet pip-tools
	$(PIPENV) $(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-find-links --no-emit-index-url -o requirements/main.lock pyproject.toml
	$(PIPENV) $(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-find-links --no-emit-index-url --extra spark -o requirements/spark.lock pyproject.toml
	$(PIPENV) $(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-find-links --no-emit-index-url --extra dev --extra spark -o requirements/dev.lock \
	  pyproject.toml
	$(PIPENV) $(BIN)/pip-compile -q --generate-hashes --allow-unsafe \
	  --no-emit-find-links --no-emit-index-url -o requirements/build.lock requirements/build.in

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache test-artifacts

# ---------------------------------------------------------------------------------------------
# Reliability: the long coverage-guided fuzz run and the dependency audit. Each has its own
# venv from its own hash-pinned lock, so neither tool enters the main or dev lock.
FUZZ_VENV   := .venv-fuzz
FUZZ_STAMP  := $(FUZZ_VENV)/.installed
FUZZ_TIME   ?= 60
AUDIT_VENV  := .venv-audit
AUDIT_STAMP := $(AUDIT_VENV)/.installed

.PHONY: fuzz audit

$(FUZZ_STAMP): requirements/fuzz.lock $(LOCK) requirements/build.lock pyproject.toml
	$(PYTHON) -m venv $(FUZZ_VENV)
	@$(PIPENV) $(FUZZ_VENV)/bin/pip install --quiet --require-hashes --no-deps \
	  -r requirements/build.lock -r $(LOCK) -r requirements/fuzz.lock || { \
	  echo "make fuzz: could not install atheris from requirements/fuzz.lock (it builds" \
	       "against libFuzzer: needs clang >= 6 when no wheel fits this Python/platform)" >&2; \
	  exit 2; }
	$(PIPENV) $(FUZZ_VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(FUZZ_STAMP)

# Coverage-guided fuzzing of decode + normalize for FUZZ_TIME seconds (default 60); crashes
# land in fuzz/crashes/, the growing corpus in fuzz/corpus/ (seeded from fuzz/seeds/).
fuzz: $(FUZZ_STAMP)
	mkdir -p fuzz/corpus fuzz/crashes
	$(FUZZ_VENV)/bin/python fuzz/atheris_decode.py -max_total_time=$(FUZZ_TIME) \
	  -artifact_prefix=fuzz/crashes/ -print_final_stats=1 fuzz/corpus fuzz/seeds

$(AUDIT_STAMP): requirements/audit.lock
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(PIPENV) $(AUDIT_VENV)/bin/pip install --quiet --require-hashes -r requirements/audit.lock
	touch $(AUDIT_STAMP)

# A CycloneDX SBOM of the dev lock in sbom.cdx.json, then known vulnerabilities in every
# pinned dependency (pip-audit against the locks, hashes required, nothing installed).
# --strict: a dependency pip-audit could not look up fails the audit instead of passing
# silently as "no known vulnerabilities".
audit: $(AUDIT_STAMP)
	$(AUDIT_VENV)/bin/cyclonedx-py requirements --output-reproducible --of JSON \
	  -o sbom.cdx.json $(LOCK)
	@echo "SBOM: sbom.cdx.json"
	@$(PIPENV) $(AUDIT_VENV)/bin/pip-audit --strict --require-hashes --disable-pip --desc on \
	  -r $(LOCK) -r requirements/build.lock || { \
	  echo "make audit: vulnerabilities found, or dependencies that could not be looked up" \
	       "(pip-audit needs PyPI's JSON API or OSV)" >&2; exit 1; }
