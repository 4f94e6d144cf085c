"""The API docs pages (Swagger UI, ReDoc) load every asset from this server's static files."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
EXTERNAL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+""", re.IGNORECASE)


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_docs_page_references_no_other_host(url, db, settings):
    response = Client().get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assets = ASSET.findall(html)
    assert assets, "the page loads its scripts"
    static = "/" + settings.STATIC_URL.lstrip("/")
    for asset in assets:
        assert asset.startswith(static), asset
        assert finders.find(asset[len(static) :]), f"{asset} is not a static file"
    # Nothing else on the page (inline scripts, preconnect hints) points at another host.
    assert EXTERNAL.findall(html.replace("//testserver", "")) == []


def test_the_schema_is_served(db):
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
