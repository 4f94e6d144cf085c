import pytest

from loyalty import errors
from members.identifiers import card_number_generate, card_number_is_valid, luhn_check_digit
from members.selectors import member_identify, members_search
from members.tests.factories import MemberFactory


@pytest.fixture
def anna(program):
    return MemberFactory(phone="+358401234567", email="anna@example.fi", last_name="Virtanen")


@pytest.mark.parametrize(
    "identifier",
    [
        "+358401234567",
        "040 123 4567",
        "0401234567",
        "00358 40 123 4567",
        "+358-40-123-4567",
        "(040) 1234567",
    ],
)
def test_identify_finds_a_member_by_phone_in_any_common_notation(anna, identifier):
    assert member_identify(identifier=identifier) == anna


def test_identify_finds_a_member_by_card_number_with_or_without_spaces(anna):
    assert member_identify(identifier=anna.card_number) == anna
    assert member_identify(identifier=anna.formatted_card_number) == anna
    assert member_identify(identifier=f"  {anna.card_number[:6]}-{anna.card_number[6:]} ") == anna


def test_identify_finds_a_member_by_email_in_any_case(anna):
    assert member_identify(identifier="ANNA@Example.FI") == anna


def test_identify_finds_a_member_by_qr_token(anna):
    assert member_identify(identifier=anna.qr_token) == anna


@pytest.mark.parametrize(
    "identifier", ["", "   ", "+358409999999", "nobody@example.fi", "123456789012", "x" * 300]
)
def test_identify_raises_member_not_found_for_unknown_identifiers(anna, identifier):
    with pytest.raises(errors.MemberNotFound) as exc:
        member_identify(identifier=identifier)

    assert exc.value.code == "member_not_found"
    assert exc.value.status == 404


def test_search_by_last_name_prefix_is_case_insensitive(anna):
    MemberFactory(last_name="Virta")
    MemberFactory(last_name="Korhonen")

    found = list(members_search(query="virt"))

    assert {m.last_name for m in found} == {"Virtanen", "Virta"}


def test_search_by_identifier_returns_just_that_member(anna):
    MemberFactory(last_name="Virta")

    assert list(members_search(query="040 123 4567")) == [anna]


def test_card_numbers_carry_a_luhn_check_digit():
    for _ in range(200):
        number = card_number_generate()
        assert card_number_is_valid(number)
        wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
        assert not card_number_is_valid(wrong)
    # A known Luhn example: 7992739871 has check digit 3.
    assert luhn_check_digit("7992739871") == "3"
