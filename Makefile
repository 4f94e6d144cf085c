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
	$(PY) manage.py setup_messages

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

# `make up`: the production-like stack (gunicorn, a Celery worker and beat from the Procfile,
# run by honcho) against PostgreSQL and Redis. Override UP_DATABASE_URL / UP_BROKER_URL to
# point elsewhere; the database is created if it does not exist.
UP_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/loyalty
UP_BROKER_URL ?= redis://127.0.0.1:6379/0
UP_PORT ?= 8000
UP_ENV := DATABASE_URL=$(UP_DATABASE_URL) CELERY_BROKER_URL=$(UP_BROKER_URL)

define ENSURE_DB
import os, environ, psycopg
from psycopg import sql
cfg = environ.Env.db_url_config(os.environ["DATABASE_URL"])
args = dict(host=cfg["HOST"] or None, port=cfg["PORT"] or None, user=cfg["USER"] or None, password=cfg["PASSWORD"] or None)
with psycopg.connect(dbname="postgres", autocommit=True, **args) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone():
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
        print("created database", cfg["NAME"])
endef
export ENSURE_DB

up: venv
	$(UP_ENV) $(PY) -c "$$ENSURE_DB"
	$(UP_ENV) $(PY) manage.py migrate --noinput
	$(UP_ENV) $(PY) manage.py setup_schedules
	$(UP_ENV) $(PY) manage.py setup_messages
	$(UP_ENV) PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PORT=$(UP_PORT) $(VENV)/bin/honcho start

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
