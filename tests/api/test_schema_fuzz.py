"""Fuzz the whole OpenAPI schema with schemathesis: no 5xx, and every response conforms.

The schema is loaded from the app itself (/api/schema/) and every operation is called
in-process through WSGI with a key holding every permission, against a test database with
a member, a purchase, a punch card and vouchers. The number of examples is kept small so
the run stays short; CI can raise it with SCHEMATHESIS_MAX_EXAMPLES.
"""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")

from django.core.signals import request_finished, request_started  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from loyalty.services import purchase_record  # noqa: E402
from loyalty.wsgi import application  # noqa: E402
from rewards.tests.factories import redeemed_voucher  # noqa: E402

# No 5xx, and status, content type and body as documented. Not checked: that every
# out-of-schema value is refused (DRF's pagination ignores a bad page_size on purpose).
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"))

pytestmark = pytest.mark.django_db


# Loaded when the module is collected (Django is set up by then; the schema needs no database).
# ``schemathesis.pytest.from_fixture`` would load it lazily but does not work with pytest 9.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def data(rich_member, reward, card_type, location):
    """Something for the generated requests to find (most ids they make up will not exist)."""
    purchase_record(member=rich_member, location=location, total="12.00", external_id="Z-1")
    redeemed_voucher(rich_member, reward)
    return rich_member


@pytest.fixture
def in_process_requests():
    # The WSGI handler closes "old" connections around each request; the test database
    # lives in this thread's open transaction, so keep the connection (as Django's own
    # test client does).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_within_its_schema(case, data, location_key, in_process_requests):
    case.call_and_validate(headers={"Authorization": f"Bearer {location_key.text}"}, checks=CHECKS)
