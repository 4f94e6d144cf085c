"""Member messages: the sending rules, templates, delivery, unsubscribe and the inbox."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import mail, signing
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from campaigns import messaging
from campaigns.messaging import (
    TemplateInvalid,
    UnknownVariable,
    message_deliver,
    message_render,
    message_send,
    messages_send_due,
    unsubscribe_token,
)
from campaigns.models import MessageLog, MessageTemplate, MessageType, MessagingSettings
from loyalty.models import Source
from loyalty.selectors import config_changed
from members import sms
from members.services import member_consent_set, member_erase, member_preferences_update
from members.tests.factories import MemberFactory

HELSINKI = ZoneInfo("Europe/Helsinki")
NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=HELSINKI)
Status, Reason = MessageLog.Status, MessageLog.Reason

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem_sms(settings):
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def consenting(member, *channels):
    for channel in channels:
        member_consent_set(member=member, channel=channel, granted=True, source=Source.PORTAL)
    return member


def by_channel(logs):
    return {log.channel: log for log in logs}


def edit_template(code, language="en", **fields):
    """Change a template as the admin would; return the type as message_send sees it."""
    template = messaging.message_type_get(code).templates.get(language=language)
    for key, value in fields.items():
        setattr(template, key, value)
    template.save()
    return messaging.message_type_get(code)


def deliver_all(logs):
    for log in logs:
        if log.status == Status.QUEUED:
            message_deliver(log_id=log.pk, at=log.send_after)


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


def test_marketing_without_consent_is_suppressed_per_channel_and_inbox_still_gets_it(member):
    logs = by_channel(message_send(member=member, type_code="win_back", at=NOON))

    assert logs["email"].status == Status.SUPPRESSED
    assert logs["email"].reason == Reason.NO_CONSENT
    assert logs["sms"].reason == Reason.NO_CONSENT
    assert logs["inbox"].status == Status.SENT
    assert logs["email"].body_text == ""  # nothing rendered for a suppressed channel


def test_marketing_with_consent_is_queued_then_delivered_by_email_and_sms(member, settings):
    consenting(member, "email", "sms")

    logs = by_channel(message_send(member=member, type_code="win_back", at=NOON))
    assert logs["email"].status == Status.QUEUED
    deliver_all(logs.values())

    logs["email"].refresh_from_db()
    logs["sms"].refresh_from_db()
    assert logs["email"].status == Status.SENT
    assert logs["sms"].status == Status.SENT
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [member.email]
    assert member.first_name in email.body
    # One-click unsubscribe headers (RFC 8058) on marketing email.
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in email.extra_headers["List-Unsubscribe"]
    assert "/unsubscribe/" in email.body
    assert [m.to for m in sms.outbox] == [member.phone]
    assert "/unsubscribe/" in sms.outbox[0].body


def test_weekly_frequency_cap_holds_for_seven_days(member):
    consenting(member, "email")
    member_preferences_update(member=member, message_frequency="weekly")

    first = by_channel(
        message_send(member=member, type_code="win_back", channels=["email"], at=NOON)
    )
    second = by_channel(
        message_send(
            member=member,
            type_code="near_reward",
            channels=["email"],
            at=NOON + dt.timedelta(days=6),
        )
    )
    third = by_channel(
        message_send(
            member=member,
            type_code="badge_earned",
            channels=["email"],
            at=NOON + dt.timedelta(days=8),
        )
    )

    assert first["email"].status == Status.QUEUED
    assert second["email"].status == Status.SUPPRESSED
    assert second["email"].reason == Reason.FREQUENCY
    assert third["email"].status == Status.QUEUED


def test_monthly_cap_ignores_service_messages_and_counts_only_marketing(member):
    consenting(member, "email")
    member_preferences_update(member=member, message_frequency="monthly")

    service = message_send(member=member, type_code="voucher_issued", channels=["email"], at=NOON)
    marketing = message_send(
        member=member, type_code="win_back", channels=["email"], at=NOON + dt.timedelta(days=1)
    )
    capped = message_send(
        member=member, type_code="win_back", channels=["email"], at=NOON + dt.timedelta(days=29)
    )
    service_again = message_send(
        member=member,
        type_code="points_expiring",
        channels=["email"],
        at=NOON + dt.timedelta(days=2),
    )

    assert service[0].status == Status.QUEUED
    assert marketing[0].status == Status.QUEUED
    assert capped[0].reason == Reason.FREQUENCY
    assert service_again[0].status == Status.QUEUED


def test_frequency_never_suppresses_marketing_everywhere_but_not_service(member):
    consenting(member, "email", "sms")
    member_preferences_update(member=member, message_frequency="never")

    marketing = by_channel(message_send(member=member, type_code="win_back", at=NOON))
    service = by_channel(message_send(member=member, type_code="points_expiring", at=NOON))

    assert {log.reason for log in marketing.values()} == {Reason.NEVER}
    assert {log.status for log in service.values()} == {Status.QUEUED, Status.SENT}


def test_service_message_goes_without_marketing_consent(member):
    logs = by_channel(message_send(member=member, type_code="points_expiring", at=NOON))

    assert logs["email"].status == Status.QUEUED
    assert logs["sms"].status == Status.QUEUED
    assert logs["inbox"].status == Status.SENT


def test_withdrawn_consent_is_logged_as_unsubscribed(member):
    consenting(member, "email")
    member_consent_set(member=member, channel="email", granted=False, source=Source.PORTAL)

    logs = by_channel(message_send(member=member, type_code="win_back", at=NOON))

    assert logs["email"].reason == Reason.UNSUBSCRIBED
    assert logs["sms"].reason == Reason.NO_CONSENT


def test_member_without_email_is_suppressed_with_the_reason(program):
    member = MemberFactory(email=None)

    logs = by_channel(message_send(member=member, type_code="voucher_issued", channels=["email"]))

    assert logs["email"].status == Status.SUPPRESSED
    assert logs["email"].reason == Reason.NO_EMAIL
    assert mail.outbox == []


def test_erased_member_gets_nothing(member):
    member_erase(member=member)
    member.refresh_from_db()

    logs = message_send(member=member, type_code="points_expiring")

    assert {log.reason for log in logs} == {Reason.INACTIVE}


def test_channel_the_type_does_not_allow_is_suppressed_when_asked_for(member):
    logs = by_channel(message_send(member=member, type_code="voucher_issued", channels=["sms"]))

    assert logs["sms"].reason == Reason.CHANNEL_NOT_ALLOWED


def test_switched_off_type_sends_nothing(member):
    message_send(member=member, type_code="voucher_issued")
    mtype = MessageType.objects.get(code="voucher_issued")
    mtype.is_active = False
    mtype.save()  # as the admin does: the cached configuration is refreshed

    logs = message_send(member=member, type_code="voucher_issued")

    assert {log.reason for log in logs} == {Reason.TYPE_OFF}


def test_unknown_type_is_a_clear_error(member):
    with pytest.raises(messaging.MessageTypeUnknown):
        message_send(member=member, type_code="no_such_message")


def test_dedupe_key_sends_the_same_message_once(member):
    first = message_send(member=member, type_code="points_expiring", dedupe_key="lot:1", at=NOON)
    again = message_send(member=member, type_code="points_expiring", dedupe_key="lot:1", at=NOON)
    other = message_send(member=member, type_code="points_expiring", dedupe_key="lot:2", at=NOON)

    assert [log.pk for log in again] == [log.pk for log in first]
    assert MessageLog.objects.filter(dedupe_key="lot:1").count() == 3
    assert len(other) == 3 and not {log.pk for log in other} & {log.pk for log in first}


# --------------------------------------------------------------------------------------------
# Quiet hours and delivery
# --------------------------------------------------------------------------------------------


def test_quiet_hours_hold_email_and_sms_until_they_end_inbox_goes_at_once(member):
    night = dt.datetime(2026, 3, 10, 22, 30, tzinfo=HELSINKI)

    logs = by_channel(message_send(member=member, type_code="points_expiring", at=night))

    expected = dt.datetime(2026, 3, 11, 8, 0, tzinfo=HELSINKI)
    assert logs["email"].status == Status.QUEUED
    assert logs["email"].send_after == expected
    assert logs["sms"].send_after == expected
    assert logs["inbox"].status == Status.SENT
    # Not due yet: the periodic job leaves it, and delivering early does nothing.
    assert messages_send_due(at=night + dt.timedelta(hours=1)) == 0
    message_deliver(log_id=logs["email"].pk, at=night)
    assert mail.outbox == []
    # When quiet hours end the job hands it over (tasks run eagerly in tests).
    assert messages_send_due(at=expected) == 2
    logs["email"].refresh_from_db()
    assert logs["email"].status == Status.SENT
    assert len(mail.outbox) == 1 and len(sms.outbox) == 1


def test_quiet_hours_early_morning_and_custom_window(member):
    early = dt.datetime(2026, 3, 10, 6, 0, tzinfo=HELSINKI)
    assert by_channel(message_send(member=member, type_code="voucher_issued", at=early))[
        "email"
    ].send_after == dt.datetime(2026, 3, 10, 8, 0, tzinfo=HELSINKI)

    config = MessagingSettings.get()
    config.quiet_hours_start = config.quiet_hours_end = dt.time(0, 0)
    config.save()
    assert (
        by_channel(message_send(member=member, type_code="voucher_issued", at=early))[
            "email"
        ].send_after
        == early
    )


def test_consent_withdrawn_while_waiting_suppresses_delivery(member):
    consenting(member, "email")
    night = dt.datetime(2026, 3, 10, 23, 0, tzinfo=HELSINKI)
    log = by_channel(message_send(member=member, type_code="win_back", at=night))["email"]
    member_consent_set(member=member, channel="email", granted=False, source=Source.PORTAL)

    message_deliver(log_id=log.pk, at=log.send_after)

    log.refresh_from_db()
    assert log.status == Status.SUPPRESSED
    assert log.reason == Reason.UNSUBSCRIBED
    assert mail.outbox == []


class BrokenSms(sms.BaseBackend):
    def send_messages(self, messages):
        raise ConnectionError("gateway down")


def test_backend_failure_marks_the_message_failed_without_raising(member, settings):
    settings.SMS_BACKEND = f"{__name__}.BrokenSms"
    log = by_channel(message_send(member=member, type_code="points_expiring", at=NOON))["sms"]

    message_deliver(log_id=log.pk, at=NOON)

    log.refresh_from_db()
    assert log.status == Status.FAILED
    assert "gateway down" in log.error


def test_delivery_is_queued_after_commit(member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message_send(member=member, type_code="voucher_issued", at=NOON)

    assert len(mail.outbox) == 1
    assert MessageLog.objects.get(channel="email").status == Status.SENT


def test_console_sms_backend_is_the_default(member, settings, caplog):
    del settings.SMS_BACKEND
    log = by_channel(message_send(member=member, type_code="points_expiring", at=NOON))["sms"]

    with caplog.at_level("INFO", logger="members.sms"):
        message_deliver(log_id=log.pk, at=NOON)

    log.refresh_from_db()
    assert log.status == Status.SENT
    assert member.phone in caplog.text


# --------------------------------------------------------------------------------------------
# Templates and languages
# --------------------------------------------------------------------------------------------


def test_template_with_unknown_variable_fails_to_render_with_a_clear_error(member):
    mtype = edit_template("near_reward", text="Hello {{ first_name }} {{ password }}")

    with pytest.raises(UnknownVariable) as info:
        message_render(member=member, message_type=mtype)
    assert "password" in info.value.detail

    # Through message_send the channel fails with that error; the caller is not broken.
    log = by_channel(message_send(member=member, type_code="near_reward", at=NOON))["inbox"]
    assert log.status == Status.FAILED
    assert "password" in log.error


@pytest.mark.parametrize(
    "source",
    [
        "{% if secret %}x{% endif %}",
        "{{ balance|default:secret }}",
        "{% for x in secrets %}{{ x }}{% endfor %}",
        "{% with a=secret %}{{ a }}{% endwith %}",
    ],
)
def test_unknown_variables_are_found_inside_tags_and_filters(source):
    with pytest.raises(UnknownVariable):
        messaging.template_validate(message_type="near_reward", source=source)


def test_known_variables_loops_and_with_pass_validation():
    messaging.template_validate(
        message_type="voucher_issued",
        source="{% with n=first_name %}{{ n }}{% endwith %}{{ reward }} {{ voucher_qr }}"
        "{% for c in voucher_code %}{{ c }}{{ forloop.counter }}{% endfor %}",
    )


def test_template_syntax_error_and_file_include_are_refused(member):
    with pytest.raises(TemplateInvalid):
        messaging.template_validate(message_type="birthday", source="{% if %}")
    for source in (
        '{% if 1 %}{% include "base.html" %}{% endif %}',
        "{% debug %}",
        "{% load i18n %}",
    ):
        with pytest.raises(TemplateInvalid):
            messaging.template_validate(message_type="birthday", source=source)
    mtype = edit_template("birthday", text='{% include "base.html" %}')
    with pytest.raises(TemplateInvalid):
        message_render(member=member, message_type=mtype)


def test_variables_are_rendered_with_html_escaped_and_text_not(program):
    member = MemberFactory(first_name="Ann <b>", language="en")
    mtype = messaging.message_type_get("voucher_issued")

    rendered = message_render(
        member=member, message_type=mtype, context={"reward": "Coffee & cake"}
    )

    assert "Ann <b>" in rendered.text and "Coffee & cake" in rendered.text
    assert "Ann &lt;b&gt;" in rendered.html and "Coffee &amp; cake" in rendered.html


def test_voucher_qr_is_an_image_in_html_and_the_code_in_text(member, location):
    from rewards.models import Reward
    from rewards.services import voucher_issue

    reward = Reward.objects.create(name="Coffee", kind="free_item")
    voucher = voucher_issue(member=member, reward=reward, origin="staff", reason="test")

    rendered = message_render(
        member=member,
        message_type=messaging.message_type_get("voucher_issued"),
        context={"voucher": voucher, "reward": reward},
    )

    assert 'src="data:image/png;base64,' in rendered.html
    assert voucher.formatted_code in rendered.text
    assert "data:image" not in rendered.text


def test_finnish_member_gets_the_finnish_template_and_local_number_format(program):
    member = MemberFactory(language="fi")
    mtype = messaging.message_type_get("referral_rewarded")
    MessageTemplate.objects.update_or_create(
        message_type=mtype,
        language="fi",
        defaults={
            "subject": "Hei {{ first_name }}",
            "text": "Saldosi {{ balance }} ja {{ points }}",
        },
    )
    config_changed()
    type(member).objects.filter(pk=member.pk).update(balance=12345)
    member.refresh_from_db()

    log = by_channel(
        message_send(
            member=member, type_code="referral_rewarded", context={"points": 1500}, at=NOON
        )
    )["inbox"]

    assert log.language == "fi"
    assert log.subject == f"Hei {member.first_name}"
    # Finnish groups thousands with a (non-breaking) space.
    assert "12\xa0345" in log.body_text
    assert "1\xa0500" in log.body_text


def test_missing_language_falls_back_to_english(program):
    # given: a business's own message type, written in English only
    mtype = MessageType.objects.create(code="shop-news", name="Shop news", category="service")
    MessageTemplate.objects.create(
        message_type=mtype, language="en", subject="News for {{ first_name }}", text="Hello"
    )
    member = MemberFactory(language="et", first_name="Mari")

    # when
    log = by_channel(message_send(member=member, type_code="shop-news", at=NOON))["inbox"]

    # then
    assert log.language == "en"
    assert log.subject == "News for Mari"


def test_setup_messages_creates_every_built_in_type_once(db):
    from django.core.management import call_command

    call_command("setup_messages")
    call_command("setup_messages")

    assert set(MessageType.objects.values_list("code", flat=True)) >= set(
        messaging.DEFAULT_MESSAGES
    )
    assert MessageTemplate.objects.filter(language="en").count() == len(messaging.DEFAULT_MESSAGES)
    assert MessageType.objects.get(code="voucher_issued").category == "service"
    assert MessageType.objects.get(code="broadcast").category == "marketing"
    # Every default template is valid for its type.
    for template in MessageTemplate.objects.select_related("message_type"):
        for source in (template.subject, template.text, template.html):
            messaging.template_validate(message_type=template.message_type, source=source)


# --------------------------------------------------------------------------------------------
# Unsubscribe
# --------------------------------------------------------------------------------------------


def test_unsubscribe_link_confirms_on_get_and_withdraws_consent_on_post(client, member):
    consenting(member, "email", "sms")
    url = reverse("campaigns:unsubscribe", args=[unsubscribe_token(member=member, channel="email")])

    page = client.get(url)
    assert page.status_code == 200
    assert "Stop marketing emails" in page.content.decode()
    member.refresh_from_db()
    assert member.marketing_email  # a GET (a link scanner) changes nothing

    done = client.post(url)
    assert done.status_code == 200
    member.refresh_from_db()
    assert not member.marketing_email
    assert member.marketing_sms  # only the channel the link was for
    assert member.consents.filter(channel="email", granted=False, source="portal").exists()
    # After it, marketing email is suppressed as unsubscribed.
    assert by_channel(message_send(member=member, type_code="win_back"))["email"].reason == (
        Reason.UNSUBSCRIBED
    )


def test_one_click_post_without_session_or_csrf_works(member):
    from django.test import Client

    consenting(member, "email")
    url = reverse("campaigns:unsubscribe", args=[unsubscribe_token(member=member)])

    response = Client(enforce_csrf_checks=True).post(url, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    member.refresh_from_db()
    assert not member.marketing_email and not member.marketing_sms


def test_second_click_records_nothing_new(client, member):
    consenting(member, "email")
    url = reverse("campaigns:unsubscribe", args=[unsubscribe_token(member=member, channel="email")])
    client.post(url)
    before = member.consents.count()

    client.post(url)

    assert member.consents.count() == before


@pytest.mark.parametrize("how", ["forged", "garbage", "other_salt", "expired"])
def test_forged_or_expired_unsubscribe_token_changes_nothing(client, member, how):
    consenting(member, "email")
    good = unsubscribe_token(member=member, channel="email")
    token = {
        "forged": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "garbage": "not-a-token",
        "other_salt": signing.dumps([member.pk, "email"], salt="something.else", compress=True),
        "expired": good,
    }[how]
    url = reverse("campaigns:unsubscribe", args=[token])
    if how == "expired":
        later = timezone.now() + dt.timedelta(seconds=messaging.UNSUBSCRIBE_MAX_AGE + 60)
        with override_settings(), pytest.MonkeyPatch.context() as mp:
            mp.setattr("django.core.signing.time.time", lambda: later.timestamp())
            response = client.post(url)
    else:
        response = client.post(url)

    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    member.refresh_from_db()
    assert member.marketing_email


# --------------------------------------------------------------------------------------------
# Inbox
# --------------------------------------------------------------------------------------------


@pytest.fixture
def member_client(client, member):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username="ann", email=member.email)
    type(member).objects.filter(pk=member.pk).update(user=user)
    client.force_login(user)
    return client


def test_inbox_lists_messages_with_unread_badge_and_opening_marks_read(member_client, member):
    log = by_channel(
        message_send(member=member, type_code="voucher_issued", context={"reward": "Tea"})
    )["inbox"]

    page = member_client.get(reverse("campaigns:inbox"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Your voucher: Tea" in html
    assert 'data-testid="inbox-unread">1' in html

    opened = member_client.get(reverse("campaigns:inbox_message", args=[log.pk]))
    assert opened.status_code == 200
    assert "your voucher for" in opened.content.decode()
    log.refresh_from_db()
    assert log.read_at is not None
    assert (
        'data-testid="inbox-unread"'
        not in member_client.get(reverse("campaigns:inbox")).content.decode()
    )


def test_another_members_message_is_a_404(member_client, program):
    other = MemberFactory()
    log = by_channel(message_send(member=other, type_code="voucher_issued"))["inbox"]

    response = member_client.get(reverse("campaigns:inbox_message", args=[log.pk]))

    assert response.status_code == 404
    log.refresh_from_db()
    assert log.read_at is None


def test_inbox_needs_sign_in(client):
    response = client.get(reverse("campaigns:inbox"))
    assert response.status_code == 302


def test_inbox_queries_do_not_grow_with_messages(
    member_client, member, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert member_client.get(reverse("campaigns:inbox")).status_code == 200
        return len(ctx.captured_queries)

    message_send(member=member, type_code="voucher_issued")
    few = count()
    for i in range(15):
        message_send(member=member, type_code="voucher_issued", dedupe_key=str(i))
    assert count() == few


def test_caller_context_fills_type_variables_but_not_the_members_name(program):
    member = MemberFactory(first_name="Ann")

    log = by_channel(
        message_send(
            member=member,
            type_code="instant_win",
            context={"name": "Lucky hour", "reward": "Cake", "voucher_code": "abcdefghjk"},
            at=NOON,
        )
    )["inbox"]

    assert log.body_text.startswith("Congratulations Ann! Your purchase won Cake.")
    assert "ABCDE-FGHJK" in log.body_text  # shown as on the voucher


def test_near_reward_for_a_punch_card_uses_the_card_wording(program):
    member = MemberFactory(first_name="Ann")

    log = by_channel(
        message_send(
            member=member,
            type_code="near_reward",
            context={"card": "Coffee", "stamps_missing": 2, "reward": "Free coffee"},
            at=NOON,
        )
    )["inbox"]

    assert "only 2 more stamps on your Coffee card for Free coffee." in log.body_text


def test_unsubscribe_token_is_short_and_survives_a_key_rotation(client, member, settings):
    consenting(member, "sms")
    token = unsubscribe_token(member=member, channel="sms")
    assert len(token) <= 40  # the link fits in an SMS

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    client.post(reverse("campaigns:unsubscribe", args=[token]))

    member.refresh_from_db()
    assert not member.marketing_sms


def test_setup_adds_a_language_once_its_translation_exists(db, monkeypatch):
    from django.utils.functional import lazy
    from django.utils.translation import get_language

    hello = lazy(
        lambda: "Hei {{ first_name }}" if get_language() == "fi" else "Hi {{ first_name }}", str
    )
    monkeypatch.setattr(
        messaging,
        "DEFAULT_MESSAGES",
        {
            "hello": messaging.MessageDefault(
                name="Hello", category="marketing", subject=hello(), text=hello()
            )
        },
    )

    messaging.messages_setup()

    templates = dict(
        MessageTemplate.objects.filter(message_type__code="hello").values_list(
            "language", "subject"
        )
    )
    assert templates == {"en": "Hi {{ first_name }}", "fi": "Hei {{ first_name }}"}
