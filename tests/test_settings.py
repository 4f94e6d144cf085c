"""The settings read the environment and refuse unsafe production configurations."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.EMAIL_BACKEND, s.DEBUG)"
)
GOOD_KEY = "k" * 20 + "-a-long-random-production-secret-key-0123456789"


def run(**env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    base.update(env)
    base["DJANGO_SETTINGS_MODULE"] = "loyalty.settings"
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nothing_set_gives_the_embedded_default():
    result = run()

    assert result.returncode == 0, result.stderr
    engine, eager, email, _debug = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert eager == "True"
    assert email == "django.core.mail.backends.console.EmailBackend"


def test_database_and_broker_urls_switch_to_postgresql_and_a_real_broker():
    result = run(
        DATABASE_URL="postgres://u@127.0.0.1:5432/x", CELERY_BROKER_URL="redis://127.0.0.1:6379/0"
    )

    assert result.returncode == 0, result.stderr
    engine, eager, _email, _debug = result.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert eager == "False"


def test_debug_off_refuses_to_start_without_a_real_secret_key():
    result = run(DEBUG="false", ALLOWED_HOSTS="loyalty.example.com")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_off_refuses_a_short_secret_key():
    result = run(DEBUG="false", SECRET_KEY="short", ALLOWED_HOSTS="loyalty.example.com")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_off_refuses_to_start_without_allowed_hosts():
    result = run(DEBUG="false", SECRET_KEY=GOOD_KEY)

    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_debug_off_starts_with_a_real_key_and_hosts():
    result = run(DEBUG="false", SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="loyalty.example.com")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "False"
