# ldapkeeper: `make run` starts the server on SQLite; `make test` installs what the tests
# need and runs every check. Both work on a fresh Debian machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# Settings pass through from the environment (SPEC section 8); these are only defaults.
LDAPKEEPER_HOST ?= 127.0.0.1
LDAPKEEPER_PORT ?= 8080
LDAPKEEPER_DATA_DIR ?= ./data
export LDAPKEEPER_HOST LDAPKEEPER_PORT LDAPKEEPER_DATA_DIR

BUILD_PACKAGES := gcc libldap-dev libsasl2-dev
TEST_PACKAGES := $(BUILD_PACKAGES) slapd ldap-utils
ROOT_TEST_PACKAGES := samba samba-ad-dc chromium
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: run test install install-dev debian-build debian-test apt-packages clean

run: install
	@echo "ldapkeeper: starting on http://$(LDAPKEEPER_HOST):$(LDAPKEEPER_PORT)/ (data in $(LDAPKEEPER_DATA_DIR))"
	exec $(BIN)/ldapkeeper serve

test: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

install: debian-build $(VENV)/.installed

install-dev: debian-test $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# Debian packages: installed only when missing, and only where we are root with apt.
debian-build:
	@$(MAKE) --no-print-directory apt-packages PACKAGES="$(BUILD_PACKAGES)"

debian-test:
	@$(MAKE) --no-print-directory apt-packages PACKAGES="$(TEST_PACKAGES) $(if $(IS_ROOT),$(ROOT_TEST_PACKAGES))"

apt-packages:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$(IS_ROOT)" = yes ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages (install them as root):$$missing"; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
