# Continuum — the two commands: `make demo` (run) and `make test` (the whole suite).
# Both work on a clean Debian 12 machine with Python 3.11, as root, with nothing pre-installed.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEB_PACKAGES := nats-server pdns-server pdns-backend-sqlite3 sqlite3 postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test demo deps venv lint typecheck pytest bench clean

## test: install everything the suite needs, then ruff, mypy --strict, import contracts, pytest.
test: deps venv lint typecheck pytest

## demo: install what the demo needs, then run `continuum demo` (Ctrl-C stops it cleanly).
demo: deps venv
	$(BIN)/continuum demo $(ARGS)

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing \
	    python3-venv >/dev/null; \
	fi
	@# Debian starts services on install where it can; the project never uses them.
	@-$(SUDO) service pdns stop >/dev/null 2>&1 || true

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3.11 python3.11-venv >/dev/null; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get install -y -qq python3.11-venv >/dev/null && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

lint: venv
	$(BIN)/ruff check continuum continuum_sim tests bench
	$(BIN)/ruff format --check continuum continuum_sim tests bench

typecheck: venv
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: venv
	$(BIN)/pytest -q -n 2 $(PYTEST_ARGS)

bench: deps venv
	$(BIN)/python bench/run_all.py $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
