"""Segment admin: the member count before saving, for managers only; the surprise pages."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from campaigns.models import Segment, SurpriseDraw, SurpriseWinner
from members.models import Member
from members.tests.factories import MemberFactory
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:campaigns_segment_add")


def form_data(**values) -> dict:
    data = {
        "name": "June birthdays",
        "description": "",
        "vip": "any",
        "birthday_month": "0",
        "joined_after": "",
        "joined_before": "",
        "last_activity_after": "",
        "last_activity_before": "",
        "inactive_days": "",
        "min_visits": "",
        "visits_days": "",
        "spend_min": "",
        "spend_max": "",
        "spend_days": "",
        "rfm_min": "",
        "rfm_max": "",
        "favourite_category": "",
        "email_consent": "any",
        "sms_consent": "any",
    }
    data.update(values)
    return data


@pytest.fixture
def june(program):
    """Three members born in June, two in other months."""
    born_june = [MemberFactory(birth_date=date(1990, 6, d)) for d in (1, 2, 3)]
    others = [MemberFactory(birth_date=date(1990, 1, 1)), MemberFactory()]
    return born_june, others


def test_count_members_on_the_add_form_counts_without_saving(staff_roles, manager_client, june):
    # when
    response = manager_client.post(ADD, form_data(birthday_month="6", _preview="1"))
    # then
    assert response.status_code == 200
    assert response.context["segment_preview"].count == 3
    assert 'data-count="3"' in response.content.decode()
    assert "3 members match" in response.content.decode()
    assert "not saved yet" in response.content.decode()
    assert not Segment.objects.exists()
    # the form comes back with the values typed
    assert response.context["adminform"].form["birthday_month"].value() == "6"


def test_count_members_lists_a_few_sample_members(staff_roles, manager_client, june):
    born_june, _ = june
    response = manager_client.post(ADD, form_data(birthday_month="6", _preview="1"))
    sample = response.context["segment_preview"].sample
    assert {m.pk for m in sample} == {m.pk for m in born_june}
    assert reverse("admin:members_member_change", args=[born_june[0].pk]) in (
        response.content.decode()
    )


def test_count_on_the_change_form_uses_the_unsaved_values(staff_roles, manager_client, june):
    segment = Segment.objects.create(name="January", birthday_month=1)
    url = reverse("admin:campaigns_segment_change", args=[segment.pk])
    # The page counts the saved segment when it opens.
    opened = manager_client.get(url)
    assert opened.context["segment_preview"].count == 1
    # when: counting after changing the month, without saving
    response = manager_client.post(url, form_data(name="January", birthday_month="6", _preview="1"))
    # then
    assert response.status_code == 200
    assert response.context["segment_preview"].count == 3
    segment.refresh_from_db()
    assert segment.birthday_month == 1


def test_count_uses_the_chosen_tiers_before_they_are_saved(staff_roles, manager_client, june):
    from decimal import Decimal

    from loyalty.models import Tier

    gold = Tier.objects.create(rank=1, name="Gold", threshold=Decimal("0"))
    born_june, _ = june
    Member.objects.filter(pk=born_june[0].pk).update(tier=gold)
    response = manager_client.post(ADD, form_data(tiers=[str(gold.pk)], _preview="1"))
    assert response.context["segment_preview"].count == 1


def test_count_with_contradicting_conditions_shows_the_error_and_no_count(
    staff_roles, manager_client, june
):
    response = manager_client.post(ADD, form_data(spend_min="100", spend_max="50", _preview="1"))
    assert response.status_code == 200
    assert response.context["segment_preview"] is None
    assert "cannot be less than" in response.content.decode()
    assert not Segment.objects.exists()


def test_save_still_saves_and_records_who_created_it(
    staff_roles, manager_client, manager_user, june
):
    response = manager_client.post(ADD, form_data(birthday_month="6"))
    assert response.status_code == 302
    segment = Segment.objects.get()
    assert segment.birthday_month == 6
    assert segment.created_by == manager_user


def test_the_list_does_not_count_members(staff_roles, manager_client, june, monkeypatch):
    Segment.objects.create(name="All")

    def no_counting(*args, **kwargs):
        raise AssertionError("the changelist counted members")

    monkeypatch.setattr("campaigns.admin.segments.segment_preview", no_counting)
    response = manager_client.get(reverse("admin:campaigns_segment_changelist"))
    assert response.status_code == 200
    assert "All" in response.content.decode()


def test_cashiers_cannot_see_or_count_segments(staff_roles, cashier_client, june):
    segment = Segment.objects.create(name="All")
    url = reverse("admin:campaigns_segment_change", args=[segment.pk])
    assert cashier_client.get(url).status_code == 403
    assert cashier_client.post(url, form_data(name="All", _preview="1")).status_code == 403
    assert cashier_client.post(ADD, form_data(_preview="1")).status_code == 403
    surprise = reverse("admin:campaigns_segment_surprise", args=[segment.pk])
    assert cashier_client.get(surprise).status_code == 403
    assert cashier_client.get(reverse("admin:campaigns_surprisedraw_changelist")).status_code == 403


# ---------------------------------------------------------------------------------------------
# Surprise members, from the segment page
# ---------------------------------------------------------------------------------------------


def surprise_url(segment):
    return reverse("admin:campaigns_segment_surprise", args=[segment.pk])


def test_segment_page_links_to_surprise_members(staff_roles, manager_client, june):
    segment = Segment.objects.create(name="June", birthday_month=6)
    page = manager_client.get(reverse("admin:campaigns_segment_change", args=[segment.pk]))
    assert surprise_url(segment) in page.content.decode()


def test_manager_surprises_members_and_sees_the_draw(
    staff_roles, manager_client, june, monkeypatch
):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kw: [])
    segment = Segment.objects.create(name="June", birthday_month=6)
    reward = RewardFactory(name="Cake")
    form = manager_client.get(surprise_url(segment))
    assert form.status_code == 200
    assert "3 members match this segment now" in form.content.decode()
    key = form.context["form"].initial["request_key"]
    data = {"name": "", "count": "2", "reward": str(reward.pk), "points": "25", "seed": "77"}
    data["request_key"] = key
    # when
    response = manager_client.post(surprise_url(segment), data)
    # then
    draw = SurpriseDraw.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:campaigns_surprisedraw_change", args=[draw.pk])
    assert draw.name == "June"
    assert draw.seed == "77"
    assert draw.winners.count() == 2
    # A double submit of the same form draws nothing more.
    manager_client.post(surprise_url(segment), data)
    assert SurpriseDraw.objects.count() == 1
    assert SurpriseWinner.objects.count() == 2
    # The record shows the seed and winners, read-only.
    page = manager_client.get(response.url)
    content = page.content.decode()
    assert page.status_code == 200
    assert "77" in content
    assert 'name="_save"' not in content
    assert "Re-run the draw" in content
    # Re-running the draw from the record confirms it.
    checked = manager_client.post(
        reverse("admin:campaigns_surprisedraw_verify", args=[draw.pk]), follow=True
    )
    assert "the same winners, in the same order" in checked.content.decode()


def test_surprise_form_refuses_nothing_to_give_and_an_empty_segment(
    staff_roles, manager_client, june
):
    segment = Segment.objects.create(name="June", birthday_month=6)
    response = manager_client.post(
        surprise_url(segment),
        {"count": "2", "points": "0", "reward": "", "seed": "", "request_key": "k1"},
    )
    assert response.status_code == 200
    assert "Choose a reward, bonus points, or both." in response.content.decode()
    nobody = Segment.objects.create(name="Nobody", birthday_month=12)
    response = manager_client.post(
        surprise_url(nobody),
        {"count": "2", "points": "10", "reward": "", "seed": "", "request_key": "k2"},
    )
    assert response.status_code == 200
    assert "nobody to surprise" in response.content.decode()
    response = manager_client.post(
        surprise_url(segment),
        {"count": "2", "points": "10", "reward": "", "seed": "abc", "request_key": "k3"},
    )
    assert "The seed must be a whole number" in response.content.decode()
    assert not SurpriseDraw.objects.exists()


def test_rfm_scores_admin_is_read_only(staff_roles, manager_client):
    response = manager_client.get(reverse("admin:campaigns_memberscore_changelist"))
    assert response.status_code == 200
    assert manager_client.get(reverse("admin:campaigns_memberscore_add")).status_code == 403
