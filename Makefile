# The two commands of the README: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := shared gateway service-catalog submissions signatures notifications
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: install run test test-postgres lint bench clean

install: $(STAMP)

$(STAMP): requirements.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps --no-build-isolation $(foreach p,$(PACKAGES),-e ./$(p))
	touch $@

run: install
	SIMPUL_DEMO=$${SIMPUL_DEMO:-1} $(BIN)/honcho start -f Procfile

test: install
	scripts/system-packages.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole system first (needs PostgreSQL and RabbitMQ on this machine, or add --sqlite), then
# the partial benchmarks: each a diagnosis of one part.
bench: install
	$(BIN)/python bench/system.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/submissions.py
	$(BIN)/python bench/signing.py
	$(BIN)/python bench/csc_signing.py
	$(BIN)/python bench/notifications.py
	$(BIN)/python bench/reports.py

lint: install
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) var
