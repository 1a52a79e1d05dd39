# Muster. `make run` and `make test` need only Python 3.11 and make (with npm, `make test` also
# installs axe-core for the accessibility tests).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export DEBUG ?= True

.PHONY: run test lint bench install clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found); try: make PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet ".[dev]"
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py devserver

# axe-core for the accessibility tests, when npm is here; without it they are skipped, saying why.
test: $(VENV)/.installed
	@if [ ! -f node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error || echo "npm ci failed: the accessibility tests will be skipped (under CI=true, fail)"; fi
	DEBUG=False $(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed
	$(PY) bench/sign.py
	$(PY) bench/mail.py
	$(PY) bench/import_subscribers.py
	$(PY) bench/count_api.py
	$(PY) bench/workspace.py
	$(PY) bench/segments.py

clean:
	rm -rf $(VENV) var node_modules
