# The two commands: `make run` (a working platform with demo data on 127.0.0.1:8000) and
# `make test` (the whole suite). Both create .venv and install what they need first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test venv migrate demo lint messages up bench-data bench-purchase clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

migrate: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_schedules

demo: migrate
	$(PY) manage.py demo

run: demo
	$(PY) manage.py runserver 127.0.0.1:8000

test: venv
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check

messages: venv
	$(PY) manage.py makemessages --all --no-obsolete --ignore=.venv --ignore=bench --ignore=tests
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
