"""Fixtures for browser tests: the system Chromium driven by Playwright's sync API.

Chromium comes from the distribution (``/usr/bin/chromium``, installed by .ci/run); the
tests never download a browser. Without it they are skipped.
"""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from loyalty.roles import CASHIER, ROLES

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# beside it are ordinary blocking calls, which Django would otherwise refuse there.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no system Chromium at {CHROMIUM} (install the 'chromium' package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def cashier_group(transactional_db):
    """Return the Cashier group, restoring it if an earlier transactional test flushed it.

    The group comes from a data migration, and the flush after each transactional test
    empties it; permissions themselves are recreated by the flush.
    """
    group, _created = Group.objects.get_or_create(name=CASHIER)
    for spec in ROLES[CASHIER]:
        app_label, codename = spec.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return group


@pytest.fixture
def logged_in(live_server):
    """Return a function that opens a browser context logged in as ``user``."""

    def open_context(browser, user, **context_options):
        client = Client()
        client.force_login(user)
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": 1024, "height": 768},
            locale="en-GB",
            **context_options,
        )
        context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": client.cookies["sessionid"].value,
                    "url": live_server.url,
                }
            ]
        )
        context.set_default_timeout(10_000)
        return context

    return open_context
