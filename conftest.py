"""Shared fixtures: the programme, a location, members and staff users of each role."""

import pytest
from django.conf import settings
from django.utils import translation

from loyalty.celery import app as celery_app
from loyalty.models import Program
from loyalty.selectors import config_changed
from loyalty.tests.factories import LocationFactory, cashier, manager
from members.tests.factories import MemberFactory

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (row locks, concurrent connections)")
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)


@pytest.fixture(autouse=True)
def _fresh_configuration_cache():
    # Each test has its own database state; never reuse another test's cached programme.
    config_changed()
    yield
    config_changed()


@pytest.fixture(autouse=True)
def _english_by_default():
    # LocaleMiddleware leaves the last request's language active in the test thread.
    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _eager_celery():
    # Tests run tasks in-process even when CELERY_BROKER_URL points at Redis (CI).
    celery_app.conf.task_always_eager = True
    yield


@pytest.fixture
def program(db):
    """The programme with plain settings: 1 point per euro, no bonuses, no expiry."""
    program, _ = Program.objects.get_or_create(pk=1)
    return program


@pytest.fixture
def location(db):
    return LocationFactory(name="Main Street", code="main")


@pytest.fixture
def member(program):
    return MemberFactory()


@pytest.fixture
def cashier_user(location):
    return cashier(locations=[location])


@pytest.fixture
def manager_user(location):
    return manager(locations=[location])


@pytest.fixture
def cashier_client(client, cashier_user):
    client.force_login(cashier_user)
    return client


@pytest.fixture
def manager_client(client, manager_user):
    client.force_login(manager_user)
    return client


@pytest.fixture
def staff_roles(db):
    """Give the role groups every permission of models added after their last migration."""
    from loyalty.roles import roles_sync

    roles_sync()
