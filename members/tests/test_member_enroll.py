import pytest

from loyalty import errors
from loyalty.models import EntryKind, Event, LedgerEntry, Source
from members.identifiers import card_number_is_valid
from members.models import Member
from members.services import member_enroll, member_rotate_qr_token, member_update
from members.tests.factories import MemberFactory


@pytest.mark.parametrize(
    "typed",
    [
        "040 123 4567",
        "0401234567",
        "+358 40 123 4567",
        "00358401234567",
        "(040) 123-4567",
        "+358401234567",
    ],
)
def test_enrol_stores_the_phone_in_e164_whatever_the_notation(program, typed):
    member = member_enroll(phone=typed)

    assert member.phone == "+358401234567"


def test_enrol_reads_national_numbers_with_the_programmes_country(program):
    program.default_country = "PL"
    program.save()

    member = member_enroll(phone="512 345 678")

    assert member.phone == "+48512345678"


def test_enrol_gives_a_valid_random_card_number_and_qr_token(program):
    first = member_enroll(phone="+358401234567")
    second = member_enroll(phone="+358401234568")

    assert card_number_is_valid(first.card_number)
    assert len(first.card_number) == 12
    assert first.card_number != second.card_number
    assert len(first.qr_token) >= 20
    assert first.qr_token != second.qr_token


def test_enrol_stores_email_lower_case(program):
    member = member_enroll(email="  Anna.Virtanen@Example.FI ")

    assert member.email == "anna.virtanen@example.fi"


@pytest.mark.parametrize(
    ("existing", "duplicate", "code"),
    [
        ({"phone": "+358401234567"}, {"phone": "040 123 4567"}, "member_exists"),
        ({"email": "anna@example.fi"}, {"email": "ANNA@example.fi"}, "member_exists"),
    ],
)
def test_enrol_refuses_a_duplicate_phone_or_email_and_writes_nothing(
    program, existing, duplicate, code
):
    member_enroll(**existing)
    members, events = Member.objects.count(), Event.objects.count()

    with pytest.raises(errors.MemberAlreadyExists) as exc:
        member_enroll(**duplicate)

    assert exc.value.code == code
    assert exc.value.field in {"phone", "email"}
    assert "already exists" in exc.value.detail
    assert (Member.objects.count(), Event.objects.count()) == (members, events)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"phone": "12"}, errors.InvalidPhone),
        ({"phone": "not a phone"}, errors.InvalidPhone),
        ({"phone": "+358 40"}, errors.InvalidPhone),
        ({"email": "not-an-email"}, errors.InvalidEmail),
        ({}, errors.ContactRequired),
        ({"phone": "", "email": "  "}, errors.ContactRequired),
        ({"phone": "+358401234567", "language": "xx"}, errors.InvalidInput),
        ({"phone": "+358401234567", "first_name": "x" * 101}, errors.InvalidInput),
    ],
)
def test_enrol_with_bad_input_is_refused_and_writes_nothing(program, kwargs, error):
    with pytest.raises(error):
        member_enroll(**kwargs)

    assert Member.objects.count() == 0
    assert Event.objects.count() == 0


def test_enrol_refuses_a_birth_date_in_the_future(program):
    import datetime

    with pytest.raises(errors.InvalidInput) as exc:
        member_enroll(phone="+358401234567", birth_date=datetime.date(2999, 1, 1))

    assert exc.value.field == "birth_date"
    assert Member.objects.count() == 0


def test_enrol_gives_the_welcome_bonus_as_a_ledger_entry(program):
    program.welcome_bonus = 50
    program.save()

    member = member_enroll(phone="+358401234567", via=Source.COUNTER)

    entry = LedgerEntry.objects.get(member=member)
    assert (entry.kind, entry.points, entry.balance_after) == (EntryKind.WELCOME, 50, 50)
    member.refresh_from_db()
    assert member.balance == 50
    assert member.enrolled_via == Source.COUNTER
    assert list(
        Event.objects.filter(member=member).values_list("type", flat=True).order_by("pk")
    ) == [
        "member.enrolled",
        "points.earned",
    ]


def test_enrol_without_welcome_bonus_writes_no_ledger_entry(program):
    member = member_enroll(phone="+358401234567")

    assert member.balance == 0
    assert not LedgerEntry.objects.filter(member=member).exists()


def test_update_normalises_the_new_phone_and_records_what_changed(program):
    member = MemberFactory(phone="+358401234567")

    member_update(member=member, phone="040 765 4321", first_name="Aino")

    member.refresh_from_db()
    assert member.phone == "+358407654321"
    assert member.first_name == "Aino"
    event = Event.objects.filter(member=member, type="member.updated").get()
    assert event.payload["changed"]["phone"] == ["+358401234567", "+358407654321"]


def test_update_refuses_another_members_phone_and_changes_nothing(program):
    MemberFactory(phone="+358401111111")
    member = MemberFactory(phone="+358402222222")

    with pytest.raises(errors.MemberAlreadyExists):
        member_update(member=member, phone="040 111 1111", first_name="Changed")

    member.refresh_from_db()
    assert member.phone == "+358402222222"
    assert member.first_name != "Changed"


def test_update_cannot_touch_ledger_fields(program):
    member = MemberFactory()

    with pytest.raises(errors.InvalidInput):
        member_update(member=member, balance=1000)

    member.refresh_from_db()
    assert member.balance == 0


def test_update_cannot_remove_the_last_contact(program):
    member = MemberFactory(phone="+358401234567", email=None)

    with pytest.raises(errors.ContactRequired):
        member_update(member=member, phone="")


def test_rotating_the_qr_token_retires_the_old_one(program):
    from members.selectors import member_identify

    member = MemberFactory()
    old = member.qr_token

    member_rotate_qr_token(member=member)

    assert member.qr_token != old
    assert member_identify(identifier=member.qr_token) == member
    with pytest.raises(errors.MemberNotFound):
        member_identify(identifier=old)
