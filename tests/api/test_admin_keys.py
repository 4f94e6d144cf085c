"""API keys in the admin: created through the service and shown once, listed, revoked."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from loyalty.api_base import api_key_authenticate, api_key_create
from loyalty.models import ApiKey


@pytest.fixture
def admin_client(client, program):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_the_add_form_offers_scope_and_permission_checkboxes(admin_client):
    page = admin_client.get("/admin/loyalty/apikey/add/").content.decode()
    assert 'type="checkbox" name="permissions" value="record_purchases"' in page
    assert 'name="location"' in page and 'name="partner"' in page
    assert "key_hash" not in page


def test_adding_a_key_shows_the_full_key_once(admin_client, location):
    response = admin_client.post(
        "/admin/loyalty/apikey/add/",
        {"name": "Till 7", "location": location.pk, "permissions": ["read_members", "enrol"]},
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="Till 7")
    assert key.location == location
    assert key.permissions == ["enrol", "read_members"]
    texts = [str(m) for m in get_messages(response.wsgi_request)] or [
        m.message for m in response.context["messages"]
    ]
    shown = [t for t in texts if "lk_" in t]
    assert len(shown) == 1
    full = shown[0].split(": ", 1)[1].split(" ")[0]
    assert api_key_authenticate(full) == key
    # Later pages never show it again, nor the hash.
    page = admin_client.get(f"/admin/loyalty/apikey/{key.pk}/change/").content.decode()
    assert full not in page and key.key_hash not in page
    listing = admin_client.get("/admin/loyalty/apikey/").content.decode()
    assert full not in listing and key.key_hash not in listing
    assert f"lk_{key.prefix}_" in listing


def test_a_key_cannot_have_both_a_location_and_a_partner(admin_client, location, partner):
    response = admin_client.post(
        "/admin/loyalty/apikey/add/",
        {"name": "Both", "location": location.pk, "partner": partner.pk},
    )
    assert response.status_code == 200
    assert not ApiKey.objects.filter(name="Both").exists()


def test_the_revoke_action_shuts_the_key_out(admin_client, location):
    key, text = api_key_create(name="Till 8", permissions=["read_members"], location=location)
    response = admin_client.post(
        "/admin/loyalty/apikey/",
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(text) is None


def test_keys_are_not_deleted_from_the_admin(admin_client, location):
    key, _text = api_key_create(name="Till 9", permissions=[], location=location)
    response = admin_client.get(f"/admin/loyalty/apikey/{key.pk}/delete/")
    assert response.status_code == 403
