"""Admin of member messages: templates checked on save, the preview, the log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.messaging import message_send, message_type_get
from campaigns.models import MessageLog, MessageTemplate, MessageType
from loyalty.selectors import config_changed
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _type_form(mtype, templates, **overrides):
    data = {
        "code": mtype.code,
        "name": mtype.name,
        "description": "",
        "category": mtype.category,
        "email": "on",
        "inbox": "on",
        "is_active": "on",
        "templates-TOTAL_FORMS": str(len(templates)),
        "templates-INITIAL_FORMS": str(sum(1 for t in templates if t.get("id"))),
        "templates-MIN_NUM_FORMS": "0",
        "templates-MAX_NUM_FORMS": "1000",
    }
    for i, template in enumerate(templates):
        for key, value in template.items():
            data[f"templates-{i}-{key}"] = value
        data[f"templates-{i}-message_type"] = mtype.pk or ""
    data.update(overrides)
    return data


def test_template_with_unknown_variable_is_refused_in_the_admin(staff_roles, manager_client):
    mtype = message_type_get("near_reward")
    # Only the English words exist (the shipped translations are removed for this test).
    mtype.templates.exclude(language="en").delete()
    template = mtype.templates.get(language="en")
    url = reverse("admin:campaigns_messagetype_change", args=[mtype.pk])

    response = manager_client.post(
        url,
        _type_form(
            mtype,
            [
                {
                    "id": template.pk,
                    "language": "en",
                    "subject": "Hi {{ first_name }}",
                    "text": "Your {{ credit_card }} is {{ balance }}",
                    "html": "",
                }
            ],
        ),
    )

    assert response.status_code == 200  # the form again, with the error
    assert "Unknown variable in the template: credit_card" in response.content.decode()
    template.refresh_from_db()
    assert "credit_card" not in template.text


def test_valid_template_is_saved_and_a_new_language_added(staff_roles, manager_client):
    mtype = message_type_get("near_reward")
    # Only the English words exist (the shipped translations are removed for this test).
    mtype.templates.exclude(language="en").delete()
    template = mtype.templates.get(language="en")
    url = reverse("admin:campaigns_messagetype_change", args=[mtype.pk])

    response = manager_client.post(
        url,
        _type_form(
            mtype,
            [
                {
                    "id": template.pk,
                    "language": "en",
                    "subject": "Hi {{ first_name }}",
                    "text": "{{ points_to_next_reward }} to {{ next_reward }}",
                    "html": "<p>{{ balance }}</p>",
                },
                {"language": "pl", "subject": "Cześć {{ first_name }}", "text": "x", "html": ""},
            ],
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    template.refresh_from_db()
    assert template.subject == "Hi {{ first_name }}"
    assert MessageTemplate.objects.filter(message_type=mtype, language="pl").exists()


def test_new_custom_type_with_syntax_error_is_refused(staff_roles, manager_client):
    response = manager_client.post(
        reverse("admin:campaigns_messagetype_add"),
        _type_form(
            MessageType(code="spring_sale", name="Spring sale", category="marketing"),
            [{"language": "en", "subject": "Sale", "text": "{% if %}", "html": ""}],
        ),
    )

    assert response.status_code == 200
    assert not MessageType.objects.filter(code="spring_sale").exists()


def test_preview_shows_the_message_in_the_members_language(staff_roles, manager_client, program):
    member = MemberFactory(first_name="Aino", language="fi")
    mtype = message_type_get("near_reward")
    MessageTemplate.objects.update_or_create(
        message_type=mtype,
        language="fi",
        defaults={"subject": "Hei {{ first_name }}", "text": "Saldo {{ balance }}"},
    )
    config_changed()
    url = reverse("admin:campaigns_messagetype_preview", args=[mtype.pk])

    page = manager_client.get(url, {"member": member.pk})

    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="preview-subject">Hei Aino<' in html
    assert "Saldo" in html


def test_preview_of_unknown_member_is_a_form_error(staff_roles, manager_client):
    mtype = message_type_get("near_reward")

    page = manager_client.get(
        reverse("admin:campaigns_messagetype_preview", args=[mtype.pk]), {"member": 999999}
    )

    assert page.status_code == 200
    assert "There is no member with this ID." in page.content.decode()


def test_preview_reports_a_broken_template(staff_roles, manager_client, member):
    mtype = message_type_get("near_reward")
    # Only the English words exist (the shipped translations are removed for this test).
    mtype.templates.exclude(language="en").delete()
    template = mtype.templates.get(language="en")
    template.text = "{{ nope }}"
    template.save()

    page = manager_client.get(
        reverse("admin:campaigns_messagetype_preview", args=[mtype.pk]), {"member": member.pk}
    )

    assert 'data-testid="preview-error"' in page.content.decode()
    assert "nope" in page.content.decode()


def test_cashier_cannot_open_message_admin(staff_roles, cashier_client):
    mtype = message_type_get("near_reward")
    assert (
        cashier_client.get(
            reverse("admin:campaigns_messagetype_preview", args=[mtype.pk])
        ).status_code
        == 403
    )
    assert cashier_client.get(reverse("admin:campaigns_messagelog_changelist")).status_code == 403


def test_message_log_is_read_only_and_filters(staff_roles, manager_client, member):
    message_send(member=member, type_code="win_back")
    log = MessageLog.objects.filter(channel="email").get()

    listing = manager_client.get(
        reverse("admin:campaigns_messagelog_changelist"), {"status__exact": "suppressed"}
    )
    detail = manager_client.get(reverse("admin:campaigns_messagelog_change", args=[log.pk]))

    assert listing.status_code == 200
    assert "No marketing consent for this channel" in listing.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert manager_client.get(reverse("admin:campaigns_messagelog_add")).status_code == 403


def test_message_log_list_queries_do_not_grow_with_rows(staff_roles, manager_client, program):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert (
                manager_client.get(reverse("admin:campaigns_messagelog_changelist")).status_code
                == 200
            )
        return len(ctx.captured_queries)

    message_send(member=MemberFactory(), type_code="voucher_issued")
    few = count()
    for _ in range(5):
        message_send(member=MemberFactory(), type_code="voucher_issued")
    assert count() == few


def test_settings_list_opens_the_single_row(staff_roles, manager_client):
    response = manager_client.get(reverse("admin:campaigns_messagingsettings_changelist"))
    assert response.status_code == 302
    assert manager_client.get(response.url).status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "admin:campaigns_messagetype_changelist",
        "admin:campaigns_messagetype_add",
        "admin:campaigns_broadcast_changelist",
        "admin:campaigns_broadcast_add",
        "admin:campaigns_messagelog_changelist",
    ],
)
def test_message_admin_pages_open_for_a_manager(staff_roles, manager_client, name):
    message_type_get("voucher_issued")
    assert manager_client.get(reverse(name)).status_code == 200


def test_message_type_page_lists_its_variables_and_links_the_preview(staff_roles, manager_client):
    mtype = message_type_get("voucher_issued")

    html = manager_client.get(
        reverse("admin:campaigns_messagetype_change", args=[mtype.pk])
    ).content.decode()

    assert "{{ voucher_qr }}" in html and "{{ reward }}" in html
    assert reverse("admin:campaigns_messagetype_preview", args=[mtype.pk]) in html
