# The two commands of the README: `make run` and `make test`. Each installs what it needs, once:
# `make run` the runtime packages (requirements.txt), `make test` the test tools as well
# (requirements-test.txt). Stamp files remember an install, so a warm `make run` calls no pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := shared gateway service-catalog submissions signatures notifications cli
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# Not quiet: a first install takes minutes, and pip's lines show what it is doing.
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: install install-test run test lint bench clean

install: $(RUN_STAMP)

install-test: $(TEST_STAMP)

$(RUN_STAMP): requirements.txt $(PYPROJECTS)
	@echo "==> [1/3] virtualenv in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] runtime packages (requirements.txt)"
	$(PIP) install -r requirements.txt
	@echo "==> [3/3] the Simpul packages, editable: $(PACKAGES)"
	$(PIP) install --no-deps --no-build-isolation $(foreach p,$(PACKAGES),-e ./$(p))
	@touch $@
	@echo "==> installed what running needs"

$(TEST_STAMP): requirements-test.txt $(RUN_STAMP)
	@echo "==> test tools (requirements-test.txt)"
	$(PIP) install -r requirements-test.txt
	@touch $@
	@echo "==> installed the test tools"

run: install
	SIMPUL_DEMO=$${SIMPUL_DEMO:-1} $(BIN)/honcho start -f Procfile

# Two workers, a test file at a time on each, then the tests marked `alone` with nothing beside
# them (their figures are recovery times). Scratch files in memory where the machine has a tmpfs:
# the suite writes thousands of small databases. PYTEST_ARGS runs what it names, in one process.
TEST_TMPDIR := $(firstword $(wildcard /dev/shm) /tmp)

test: install-test
	scripts/system-packages.sh
ifdef PYTEST_ARGS
	TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest $(PYTEST_ARGS)
else
	TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest --numprocesses 2 --dist loadfile -m "not alone"
	TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest -m alone
endif

# The whole system first (needs PostgreSQL and RabbitMQ on this machine, or add --sqlite), then
# the partial benchmarks: each a diagnosis of one part.
bench: install-test
	$(BIN)/python bench/system.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/submissions.py
	$(BIN)/python bench/signing.py
	$(BIN)/python bench/csc_signing.py
	$(BIN)/python bench/notifications.py
	$(BIN)/python bench/reports.py

lint: install-test
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) var
