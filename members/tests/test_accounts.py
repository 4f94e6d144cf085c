"""Member portal accounts: sign-up, verification, claim, profile, privacy, login limits."""

import json
import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from loyalty.models import LedgerEntry, Source
from loyalty.services import points_credit
from members import sms
from members.accounts import (
    ClaimCodeExpired,
    ClaimNotPossible,
    claim_confirm,
    claim_start,
)
from members.models import ClaimCode, ConsentRecord, Member
from members.tests.factories import MemberFactory

User = get_user_model()
PASSWORD = "plum-Tree-1987!"
CONFIRM_LINK = re.compile(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)")
CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture(autouse=True)
def _fresh_limits():
    # allauth's login limits and the claim limit live in the cache, shared by all tests.
    cache.clear()
    sms.outbox.clear()
    yield
    cache.clear()


def portal_user(email="lea@example.com", *, verified=True):
    user = User.objects.create_user(username=email, email=email, password=PASSWORD)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=verified)
    return user


def counter_member(points=120, **kwargs):
    kwargs.setdefault("email", "anna@example.com")
    kwargs.setdefault("phone", "+358401234567")
    member = MemberFactory(**kwargs)
    if points:
        points_credit(member=member, points=points, reason="Purchase at the counter")
    member.refresh_from_db()
    return member


def signup(client, email="lea@example.com", **extra):
    data = {
        "email": email,
        "password1": PASSWORD,
        "password2": PASSWORD,
        "language": "fi",
        "terms": "on",
        **extra,
    }
    return client.post(reverse("account_signup"), data)


def code_from_outbox() -> str:
    return CODE.search(mail.outbox[-1].body).group(1)


# Sign-up and verification -------------------------------------------------------------------


def test_signup_creates_login_and_member_with_consents_and_sends_a_verification_email(
    client, program
):
    # when
    response = signup(client, email="Lea@Example.com", marketing_email="on")
    # then
    assert response.status_code == 302
    user = User.objects.get(email__iexact="lea@example.com")
    member = Member.objects.get(user=user)
    assert member.email == "lea@example.com"
    assert member.enrolled_via == Source.PORTAL
    assert member.language == "fi"
    assert (member.marketing_email, member.marketing_sms) == (True, False)
    assert member.terms_accepted_at is not None
    consents = {c.channel: c for c in member.consents.all()}
    assert set(consents) == {"terms", "email", "sms"}
    assert [consents[c].granted for c in ("terms", "email", "sms")] == [True, True, False]
    assert all(c.source == Source.PORTAL and c.created_at for c in consents.values())
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["lea@example.com"]
    assert CONFIRM_LINK.search(mail.outbox[0].body)
    assert "Vahvista sähköpostiosoitteesi" in mail.outbox[0].subject  # in the chosen language
    # mandatory verification: not signed in yet
    assert "_auth_user_id" not in client.session
    # the pages after sign-up speak the language chosen on the form
    assert response.cookies["django_language"].value == "fi"


def test_signup_without_accepting_the_terms_is_refused_and_creates_nothing(client, program):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "lea@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "language": "en",
        },
    )
    assert response.status_code == 200
    assert "Accept the terms of the programme to join." in response.content.decode()
    assert not User.objects.exists()
    assert not Member.objects.exists()


def test_verification_link_signs_in_and_opens_the_portal(client, program):
    signup(client)
    path = CONFIRM_LINK.search(mail.outbox[0].body).group(1)
    # when
    response = client.post(path)
    # then
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == User.objects.get().pk
    assert client.get(reverse("account:profile")).status_code == 200


def test_signup_with_the_email_of_a_counter_member_links_it_only_after_verification(
    client, program
):
    # given a member enrolled at the counter, with points
    anna = counter_member(email="anna@example.com")
    # when someone signs up with her email
    signup(client, email="anna@example.com", marketing_sms="on")
    user = User.objects.get()
    # then no second member, and nothing linked before the address is verified
    assert Member.objects.count() == 1
    anna.refresh_from_db()
    assert anna.user is None
    # when the address is verified
    client.post(CONFIRM_LINK.search(mail.outbox[0].body).group(1))
    # then the counter member is linked, points and all, with the form's choices
    anna.refresh_from_db()
    assert anna.user == user
    assert anna.balance == 120
    assert anna.language == "fi"
    assert anna.marketing_sms is True
    assert anna.terms_accepted_at is not None
    assert anna.consents.filter(channel="terms", source=Source.PORTAL, granted=True).exists()
    assert Member.objects.count() == 1


# Claiming a counter membership --------------------------------------------------------------


@pytest.fixture
def lea(client, program):
    user = portal_user()
    client.force_login(user)
    return user


def test_login_without_member_is_sent_to_claim(client, lea):
    response = client.get(reverse("account:profile"))
    assert response.status_code == 302
    assert response.url == reverse("account:claim")


def test_claim_by_card_number_sends_code_to_the_email_on_file_and_links_member_with_balance(
    client, lea
):
    anna = counter_member()
    # when
    response = client.post(reverse("account:claim"), {"identifier": anna.formatted_card_number})
    # then the code went to Anna's email on file, not to the login's address
    assert response.status_code == 302
    assert response.url == reverse("account:claim_code")
    assert [m.to for m in mail.outbox] == [["anna@example.com"]]
    claim = ClaimCode.objects.get()
    code = code_from_outbox()
    assert code not in claim.code_hash
    assert claim.expires_at - claim.created_at == timedelta(minutes=15)
    # when the code is entered
    response = client.post(reverse("account:claim_code"), {"code": code})
    # then the member is linked, with its points and history
    assert response.status_code == 302
    anna.refresh_from_db()
    assert anna.user == lea
    assert anna.balance == 120
    assert LedgerEntry.objects.filter(member=anna).count() == 1
    assert Member.objects.count() == 1
    assert client.get(reverse("account:profile")).status_code == 200


def test_claim_by_phone_in_national_notation_emails_the_code_to_the_address_on_file(client, lea):
    anna = counter_member()
    client.post(reverse("account:claim"), {"identifier": "040 123 4567"})
    assert mail.outbox[-1].to == ["anna@example.com"]
    client.post(reverse("account:claim_code"), {"code": code_from_outbox()})
    anna.refresh_from_db()
    assert anna.user == lea


def test_claim_of_a_member_without_email_sends_the_code_by_sms_to_its_phone(client, lea, settings):
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    anna = counter_member(email=None)
    client.post(reverse("account:claim"), {"identifier": anna.card_number})
    assert mail.outbox == []
    assert [m.to for m in sms.outbox] == ["+358401234567"]
    code = CODE.search(sms.outbox[0].body).group(1)
    client.post(reverse("account:claim_code"), {"code": code})
    anna.refresh_from_db()
    assert anna.user == lea


def test_claim_of_an_unknown_number_says_the_same_and_sends_nothing(client, lea):
    counter_member()
    known = client.post(reverse("account:claim"), {"identifier": "+358401234567"}, follow=True)
    mail.outbox.clear()
    cache.clear()
    unknown = client.post(reverse("account:claim"), {"identifier": "+358409999999"}, follow=True)
    assert mail.outbox == []
    message = "If this membership exists, a code was sent"
    assert message in known.content.decode()
    assert message in unknown.content.decode()


def test_wrong_codes_count_attempts_and_the_sixth_attempt_is_refused(client, lea):
    anna = counter_member()
    client.post(reverse("account:claim"), {"identifier": anna.card_number})
    code = code_from_outbox()
    wrong = "000000" if code != "000000" else "111111"
    for attempt in range(1, 6):
        response = client.post(reverse("account:claim_code"), {"code": wrong})
        assert response.status_code == 200
        assert ClaimCode.objects.get().attempts == attempt
    assert "Attempts left: 4." not in response.content.decode()
    # the right code, on the sixth attempt, is refused
    response = client.post(reverse("account:claim_code"), {"code": code})
    assert "Too many wrong codes" in response.content.decode()
    anna.refresh_from_db()
    assert anna.user is None


def test_a_wrong_code_tells_how_many_attempts_are_left(client, lea):
    anna = counter_member()
    client.post(reverse("account:claim"), {"identifier": anna.card_number})
    code = code_from_outbox()
    response = client.post(
        reverse("account:claim_code"), {"code": str((int(code) + 1) % 10**6).zfill(6)}
    )
    assert "Attempts left: 4." in response.content.decode()


def test_an_expired_code_is_refused(client, lea):
    anna = counter_member()
    claim_start(user=lea, identifier=anna.card_number, at=timezone.now() - timedelta(minutes=16))
    with pytest.raises(ClaimCodeExpired):
        claim_confirm(user=lea, code=code_from_outbox())
    response = client.post(reverse("account:claim_code"), {"code": code_from_outbox()})
    assert "This code has expired" in response.content.decode()
    anna.refresh_from_db()
    assert anna.user is None


def test_a_new_code_replaces_the_earlier_one(client, lea):
    anna = counter_member()
    claim_start(user=lea, identifier=anna.card_number)
    first = code_from_outbox()
    claim_start(user=lea, identifier=anna.card_number)
    second = code_from_outbox()
    if first != second:
        response = client.post(reverse("account:claim_code"), {"code": first})
        assert response.status_code == 200
    claim_confirm(user=lea, code=second)
    anna.refresh_from_db()
    assert anna.user == lea


def test_claim_of_a_member_linked_to_another_login_is_refused(client, lea):
    anna = counter_member()
    other = portal_user("other@example.com")
    Member.objects.filter(pk=anna.pk).update(user=other)
    # when Lea asks for a code
    response = client.post(reverse("account:claim"), {"identifier": anna.card_number}, follow=True)
    # then no code exists; the owner is told by a message of its own; Lea sees the usual text
    assert not ClaimCode.objects.exists()
    assert [m.to for m in mail.outbox] == [["anna@example.com"]]
    assert not CODE.search(mail.outbox[0].body)
    assert "If this membership exists" in response.content.decode()
    response = client.post(reverse("account:claim_code"), {"code": "123456"})
    assert "no code waiting" in response.content.decode()
    anna.refresh_from_db()
    assert anna.user == other


def test_a_member_linked_elsewhere_while_the_code_was_on_its_way_is_not_taken(lea):
    anna = counter_member()
    claim_start(user=lea, identifier=anna.card_number)
    other = portal_user("other@example.com")
    Member.objects.filter(pk=anna.pk).update(user=other)
    with pytest.raises(ClaimNotPossible):
        claim_confirm(user=lea, code=code_from_outbox())
    anna.refresh_from_db()
    assert anna.user == other


def test_a_code_asked_for_by_another_login_does_not_link_the_member_to_mine(client, lea):
    # given Bruno's login asked for a code for Anna's membership (say, Bruno is Anna's partner)
    anna = counter_member()
    bruno = portal_user("bruno@example.com")
    claim_start(user=bruno, identifier=anna.card_number)
    code = code_from_outbox()
    # when Lea types that code
    response = client.post(reverse("account:claim_code"), {"code": code})
    # then there is no code for her login, and Anna stays unlinked
    assert "no code waiting" in response.content.decode()
    anna.refresh_from_db()
    assert anna.user is None
    assert ClaimCode.objects.get().attempts == 0


def test_a_field_error_is_tied_to_its_field_for_screen_readers(client, lea):
    response = client.post(reverse("account:claim"), {"identifier": ""})

    html = response.content.decode()
    field = re.search(r'<input[^>]*name="identifier"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in field
    described = re.search(r'aria-describedby="([^"]+)"', field).group(1).split()
    errors = re.search(r'<ul class="field-errors" id="([^"]+)"', html).group(1)
    assert errors in described


def test_claim_codes_requested_too_often_are_refused(client, lea):
    for _ in range(5):
        client.post(reverse("account:claim"), {"identifier": "+358409999999"})
    response = client.post(reverse("account:claim"), {"identifier": "+358409999999"})
    assert response.status_code == 200
    assert "Too many codes requested" in response.content.decode()


# Profile and preferences --------------------------------------------------------------------


@pytest.fixture
def lea_member(client, program):
    client.post(
        reverse("account_signup"),
        {
            "email": "lea@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "language": "en",
            "terms": "on",
        },
    )
    user = User.objects.get(email="lea@example.com")
    EmailAddress.objects.filter(user=user).update(verified=True)
    client.force_login(user)
    member = user.member
    points_credit(member=member, points=40, reason="Coffee")
    member.refresh_from_db()
    return member


def test_profile_saves_fields_preferences_and_only_changed_consents(client, lea_member):
    before = ConsentRecord.objects.filter(member=lea_member).count()
    response = client.post(
        reverse("account:profile"),
        {
            "first_name": "Lea",
            "last_name": "Tamm",
            "birth_date": "1990-05-17",
            "language": "et",
            "other_categories": "coffee, pastries",
            "marketing_sms": "on",
            "message_frequency": "monthly",
        },
    )
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "et"
    lea_member.refresh_from_db()
    assert (lea_member.first_name, lea_member.last_name) == ("Lea", "Tamm")
    assert lea_member.birth_date.isoformat() == "1990-05-17"
    assert lea_member.language == "et"
    assert lea_member.favourite_categories == ["coffee", "pastries"]
    assert lea_member.message_frequency == "monthly"
    assert (lea_member.marketing_email, lea_member.marketing_sms) == (False, True)
    new = ConsentRecord.objects.filter(member=lea_member).order_by("pk")[before:]
    assert [(c.channel, c.granted, c.source) for c in new] == [("sms", True, Source.PORTAL)]


def test_profile_with_a_future_birth_date_shows_the_error_and_saves_nothing(client, lea_member):
    response = client.post(
        reverse("account:profile"),
        {
            "first_name": "Lea",
            "birth_date": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "language": "fi",
            "marketing_email": "on",
            "message_frequency": "never",
        },
    )
    assert response.status_code == 200
    assert "Enter a real birth date." in response.content.decode()
    lea_member.refresh_from_db()
    assert (lea_member.first_name, lea_member.language) == ("", "en")
    assert lea_member.marketing_email is False
    assert lea_member.message_frequency == "any"


def test_login_applies_the_members_language(client, lea_member):
    Member.objects.filter(pk=lea_member.pk).update(language="pl")
    client.logout()
    response = client.post(
        reverse("account_login"), {"login": "lea@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "pl"


# Privacy ------------------------------------------------------------------------------------


def test_export_is_a_json_attachment_with_the_ledger_after_a_post(client, lea_member):
    assert client.get(reverse("account:privacy_export")).status_code == 405
    response = client.post(reverse("account:privacy_export"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.content)
    assert data["profile"]["email"] == "lea@example.com"
    assert [(e["points"], e["reason"]) for e in data["ledger"]] == [(40, "Coffee")]
    assert {c["channel"] for c in data["consents"]} == {"terms", "email", "sms"}


def test_delete_needs_the_password(client, lea_member):
    response = client.post(reverse("account:privacy_delete"), {"password": "wrong"})
    assert response.status_code == 200
    assert "This is not your password." in response.content.decode()
    lea_member.refresh_from_db()
    assert lea_member.erased_at is None


def test_delete_erases_personal_data_logs_out_and_keeps_the_ledger(client, lea_member):
    user_pk = lea_member.user_id
    # when
    response = client.post(reverse("account:privacy_delete"), {"password": PASSWORD})
    # then
    assert response.status_code == 302
    assert response.url == reverse("account_login")
    lea_member.refresh_from_db()
    assert lea_member.erased_at is not None
    assert (lea_member.email, lea_member.phone, lea_member.first_name) == (None, None, "")
    assert lea_member.user is None
    # The login is scrubbed and can never sign in again (audit rows may point at it).
    login = User.objects.get(pk=user_pk)
    assert (login.is_active, login.email, login.has_usable_password()) == (False, "", False)
    assert "lea" not in login.username
    assert LedgerEntry.objects.filter(member=lea_member).count() == 1
    assert lea_member.balance == 40
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("account:profile")).status_code == 302


# Sign-in limits and access ------------------------------------------------------------------


def test_repeated_failed_logins_are_refused_even_with_the_right_password(client, program):
    portal_user()
    for _ in range(5):
        response = client.post(
            reverse("account_login"), {"login": "lea@example.com", "password": "not-it"}
        )
        assert response.status_code == 200
    response = client.post(
        reverse("account_login"), {"login": "lea@example.com", "password": PASSWORD}
    )
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "name",
    [
        "account:profile",
        "account:claim",
        "account:claim_code",
        "account:privacy",
        "account:privacy_delete",
    ],
)
def test_account_pages_need_a_login(client, program, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_anonymous_export_is_refused(client, program):
    response = client.post(reverse("account:privacy_export"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_a_member_sees_and_changes_only_their_own_data(client, lea_member):
    # given another member, Bruno, with his own login
    bruno_user = portal_user("bruno@example.com")
    bruno = counter_member(email="bruno@example.com", phone="+358407654321", points=300)
    Member.objects.filter(pk=bruno.pk).update(user=bruno_user, first_name="Bruno")
    # when Lea posts Bruno's ids along with her form
    client.post(
        reverse("account:profile"),
        {
            "member": bruno.pk,
            "member_id": bruno.pk,
            "pk": bruno.pk,
            "user": bruno_user.pk,
            "email": "lea-new@example.com",
            "first_name": "Hacked",
            "language": "zh-hant",
            "message_frequency": "never",
        },
    )
    client.post(
        reverse("account:privacy_delete") + f"?member={bruno.pk}",
        {"password": PASSWORD, "member": bruno.pk},
    )
    # then Bruno is untouched; only Lea changed (and then left)
    bruno.refresh_from_db()
    assert (bruno.first_name, bruno.language, bruno.erased_at) == ("Bruno", "en", None)
    assert bruno.user == bruno_user
    assert bruno.message_frequency == "any"
    lea_member.refresh_from_db()
    assert lea_member.first_name == ""  # erased after the rename
    assert lea_member.erased_at is not None


def test_export_contains_only_the_signed_in_members_data(client, lea_member):
    bruno = counter_member(email="bruno@example.com", phone="+358407654321", points=300)
    data = json.loads(client.post(reverse("account:privacy_export"), {"member": bruno.pk}).content)
    assert data["profile"]["card_number"] == lea_member.card_number
    assert [e["points"] for e in data["ledger"]] == [40]
