"""The footer's language switcher: the page changes, and a signed-in member keeps the choice."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.urls import reverse

from members.models import Member
from members.tests.factories import MemberFactory

User = get_user_model()


def member_with_login(username: str, **member_fields) -> tuple[Member, object]:
    member = MemberFactory(**member_fields)
    user = User.objects.create_user(username=username, email=f"{username}@example.com")
    Member.objects.filter(pk=member.pk).update(user=user)
    member.refresh_from_db()
    return member, user


def switch(client, language: str, next_url: str = "/"):
    return client.post(reverse("set_language"), {"language": language, "next": next_url})


def test_the_switcher_posts_to_the_usual_url():
    assert reverse("set_language") == "/i18n/setlang/"


def test_a_signed_in_member_switching_language_keeps_it(client, program):
    anna, user = member_with_login("anna", language="en")
    client.force_login(user)

    response = switch(client, "fi", reverse("portal:history"))

    assert response.status_code == 302
    assert response.url == reverse("portal:history")
    assert response.cookies["django_language"].value == "fi"
    anna.refresh_from_db()
    assert anna.language == "fi"


def test_a_regional_variant_is_stored_as_the_language_offered(client, program):
    anna, user = member_with_login("anna", language="en")
    client.force_login(user)

    switch(client, "fi-FI")
    anna.refresh_from_db()
    assert anna.language == "fi"


def test_switching_changes_only_the_signed_in_members_language(client, program):
    anna, user = member_with_login("anna", language="en")
    bertil, _bertil_user = member_with_login("bertil", language="pl")
    client.force_login(user)

    client.post(
        reverse("set_language"),
        {"language": "et", "next": "/", "member": bertil.pk, "user": bertil.user_id},
    )

    anna.refresh_from_db()
    bertil.refresh_from_db()
    assert (anna.language, bertil.language) == ("et", "pl")


def test_a_language_not_offered_changes_nothing(client, program):
    anna, user = member_with_login("anna", language="fi")
    client.force_login(user)

    response = switch(client, "xx")

    assert response.status_code == 302
    assert "django_language" not in response.cookies
    anna.refresh_from_db()
    assert anna.language == "fi"


def test_visitors_and_staff_without_a_membership_switch_the_page_only(
    client, program, cashier_user
):
    member = MemberFactory(language="en")

    response = switch(client, "pl")
    assert response.cookies["django_language"].value == "pl"

    client.force_login(cashier_user)
    response = switch(client, "et", reverse("counter:home"))
    assert response.cookies["django_language"].value == "et"
    member.refresh_from_db()
    assert member.language == "en"


def test_switching_on_the_kiosk_leaves_the_signed_in_members_language(client, program):
    # A shared tablet: the customer at the door is not whoever signed in on it.
    anna, user = member_with_login("anna", language="en")
    client.force_login(user)

    response = switch(client, "fi", reverse("kiosk:home"))

    assert response.cookies["django_language"].value == "fi"
    anna.refresh_from_db()
    assert anna.language == "en"


def test_a_get_changes_nothing(client, program):
    anna, user = member_with_login("anna", language="en")
    client.force_login(user)

    client.get(reverse("set_language"), {"language": "fi"})

    anna.refresh_from_db()
    assert anna.language == "en"
