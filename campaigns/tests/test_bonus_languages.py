"""Campaign names per language: the engine's award lines, the portal, messages and the admin.

Bonus campaigns, action types, challenges, badges, sweepstakes and instant wins keep their
member-facing texts per language (``campaigns/translation.py``); an empty language shows the
English text.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone, translation

from campaigns import challenges as challenge_svc
from campaigns.models import ActionType, Badge, BonusCampaign, Challenge, InstantWin, Sweepstake
from campaigns.tests.actions_support import ActionTypeFactory
from campaigns.tests.challenges_support import BadgeFactory, ChallengeFactory
from loyalty.api_base import api_key_create
from loyalty.models import ApiKey
from loyalty.selectors import config_changed
from loyalty.services import purchase_quote, purchase_record
from members.models import Member
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sent(monkeypatch):
    calls: list[dict] = []

    def capture(**kwargs):
        calls.append(kwargs)
        return []

    monkeypatch.setattr("campaigns.messaging.message_send", capture)
    return calls


def _campaign(**fields) -> BonusCampaign:
    now = timezone.now()
    campaign = BonusCampaign.objects.create(
        name_en="Double points",
        name_fi="Tuplapisteet",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
        **fields,
    )
    config_changed()
    return campaign


def _campaign_labels(awards) -> list[str]:
    return [
        a["label"] if isinstance(a, dict) else a.label for a in awards if _code(a) == "campaign"
    ]


def _code(award) -> str:
    return award["code"] if isinstance(award, dict) else award.code


def test_the_award_line_takes_the_active_language_from_one_cached_spec(program, location, member):
    _campaign()

    with translation.override("en"):
        english = purchase_quote(member=member, location=location, total="10")
    with translation.override("fi"):
        finnish = purchase_quote(member=member, location=location, total="10")
        recorded = purchase_record(member=member, location=location, total="10")
    with translation.override("et"):  # no Estonian name: the English one
        estonian = purchase_quote(member=member, location=location, total="10")

    assert _campaign_labels(english.awards) == ["Double points"]
    assert _campaign_labels(finnish.awards) == ["Tuplapisteet"]
    assert _campaign_labels(estonian.awards) == ["Double points"]
    # The record keeps the line in the language it was recorded in.
    assert _campaign_labels(recorded.awards) == ["Tuplapisteet"]
    assert _campaign_labels(recorded.purchase.awards) == ["Tuplapisteet"]


def test_a_finnish_quote_over_the_api_names_the_campaign_in_finnish(
    program, location, member, client
):
    _campaign()
    _key, text = api_key_create(
        name="Till", permissions=[ApiKey.Permission.RECORD_PURCHASES], location=location
    )

    response = client.post(
        "/api/v1/purchases/quote/",
        {"member": member.pk, "total": "10.00"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {text}", "Accept-Language": "fi"},
    )

    assert response.status_code == 200, response.content
    assert "Tuplapisteet" in [a["label"] for a in response.json()["awards"]]


def test_existing_names_became_the_english_ones(program):
    """The migration copied ``name`` into ``name_en``; new objects fill it by the descriptor."""
    campaign = _campaign()
    BonusCampaign.objects.filter(pk=campaign.pk).update(name_en=None)

    with translation.override("en"):
        assert BonusCampaign.objects.get(pk=campaign.pk).name == ""
    # What the migration's copy does for rows that existed before.
    from importlib import import_module

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    # The models as the migration sees them (plain managers, no per-language rewriting).
    state = MigrationLoader(connection).project_state(("campaigns", "0007_names_per_language"))
    migration = import_module("campaigns.migrations.0007_names_per_language")
    migration.copy_to_default_language(state.apps, None)

    with translation.override("en"):
        assert BonusCampaign.objects.get(pk=campaign.pk).name == "Double points"


@pytest.fixture
def finnish_client(client, member):
    user = get_user_model().objects.create_user(username="aino", email="aino@example.com")
    Member.objects.filter(pk=member.pk).update(user=user, language="fi")
    client.force_login(user)
    # Signing in sets the member's language in the language cookie (members.account_views).
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fi"
    return client


def test_a_finnish_member_sees_the_finnish_challenge_name(finnish_client):
    ChallengeFactory(
        name_en="Visit 5 times",
        name_fi="Käy 5 kertaa",
        description_en="Come often",
        description_fi="Tule usein",
        badge=BadgeFactory(name_en="Regular", name_fi="Kanta-asiakas"),
    )

    html = finnish_client.get(reverse("campaigns:challenges")).content.decode()

    assert "Käy 5 kertaa" in html
    assert "Tule usein" in html
    assert "Visit 5 times" not in html


def test_messages_resolve_names_in_the_members_language(program, location, member, _sent):
    badge = BadgeFactory(name_en="First buy", name_fi="Ensiostos", description_fi="Hienoa")
    ChallengeFactory(name_en="One purchase", name_fi="Yksi osto", target=1, badge=badge)

    with translation.override("en"):  # e.g. a cashier working in English
        purchase_record(member=member, location=location, total="5.00")

    contexts = {call["type_code"]: call["context"] for call in _sent}
    completed, earned = contexts["challenge_completed"], contexts["badge_earned"]
    with translation.override("fi"):  # message_render renders in the member's language
        assert (str(completed["challenge"]), str(completed["badge"])) == ("Yksi osto", "Ensiostos")
        assert (str(earned["badge"]), str(earned["description"])) == ("Ensiostos", "Hienoa")
    with translation.override("en"):
        assert str(completed["challenge"]) == "One purchase"
    assert challenge_svc  # the service module the hooks run


# --------------------------------------------------------------------------------------------
# The admin: one tab per language, and each change form still opens and saves
# --------------------------------------------------------------------------------------------


def _objects() -> dict[type, object]:
    now = timezone.now()
    return {
        BonusCampaign: _campaign(),
        ActionType: ActionTypeFactory(name="Follow us"),
        Challenge: ChallengeFactory(name="Three buys"),
        Badge: BadgeFactory(name="Starter"),
        Sweepstake: Sweepstake.objects.create(
            name="Autumn draw",
            prize=RewardFactory(points_cost=None),
            starts_at=now,
            ends_at=now + timedelta(days=7),
        ),
        InstantWin: InstantWin.objects.create(
            name="Every 10th", every_n=10, points=5, starts_at=now
        ),
    }


def test_each_admin_opens_add_and_change_pages_with_a_field_per_language(
    staff_roles, manager_client, program
):
    for model, obj in _objects().items():
        opts = model._meta
        add = manager_client.get(reverse(f"admin:campaigns_{opts.model_name}_add"))
        change = manager_client.get(
            reverse(f"admin:campaigns_{opts.model_name}_change", args=[obj.pk])
        )
        for response in (add, change):
            assert response.status_code == 200, opts.model_name
            html = response.content.decode()
            for language in ("en", "fi", "et", "pl", "zh_hant"):
                assert f'name="name_{language}"' in html, (opts.model_name, language)
            assert 'name="name"' not in html
            assert "mt-tabs" in html  # the tabs script
        if model is not InstantWin:  # the others have a fieldset that says so
            assert "Names and descriptions are kept per language" in change.content.decode()


def _post_data(response) -> dict:
    """Return the change form's current values, as the browser would post them back."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        widget = field.widget
        if isinstance(field, forms.FileField):
            continue  # no upload: the file stays
        if hasattr(widget, "widgets"):  # split date and time
            for i, part in enumerate(widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else part
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else value
    for formset in response.context.get("inline_admin_formsets", []):
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management[name].value()
    return data


def test_manager_saves_a_finnish_name_on_each(staff_roles, manager_client, program):
    for model, obj in _objects().items():
        url = reverse(f"admin:campaigns_{model._meta.model_name}_change", args=[obj.pk])
        data = _post_data(manager_client.get(url))
        data["name_fi"] = "Suomeksi"

        response = manager_client.post(url, data)

        assert response.status_code == 302, (model, response.context["adminform"].form.errors)
        obj.refresh_from_db()
        with translation.override("fi"):
            assert obj.name == "Suomeksi", model
        with translation.override("en"):
            assert obj.name != "Suomeksi", model


def test_the_english_name_is_required(staff_roles, manager_client, program):
    url = reverse("admin:campaigns_challenge_change", args=[ChallengeFactory().pk])
    data = _post_data(manager_client.get(url))
    data["name_en"] = ""

    response = manager_client.post(url, data)

    assert response.status_code == 200
    assert "name_en" in response.context["adminform"].form.errors
