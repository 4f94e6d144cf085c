"""The liveness probe: no key, no database, always ``{"status": "ok"}``."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_health_answers_without_a_key_or_a_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/api/v1/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_health_ignores_a_bad_key():
    response = Client().get("/api/v1/health/", headers={"Authorization": "Bearer lk_nope_x"})
    assert response.status_code == 200
