"""The challenges page of the member portal and the dashboard's challenges panel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns import challenges as svc
from campaigns.models import Challenge, ChallengeProgress, MemberBadge, Segment
from campaigns.tests.challenges_support import BadgeFactory, ChallengeFactory
from loyalty.services import purchase_record
from members.models import Member


@pytest.fixture(autouse=True)
def _quiet_messages(monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])


@pytest.fixture
def member_client(client, member):
    user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
    Member.objects.filter(pk=member.pk).update(user=user)
    client.force_login(user)
    return client


def test_page_shows_progress_join_button_completed_and_badges(member_client, member, location):
    visits = ChallengeFactory(name="Visit 5 times", goal=Challenge.Goal.VISITS, target=5)
    opt_in = ChallengeFactory(name="Tea tour", enrolment=Challenge.Enrolment.OPT_IN)
    done = ChallengeFactory(name="First buy", target=1, badge=BadgeFactory(name="Starter"))
    purchase_record(member=member, location=location, total="5.00")

    response = member_client.get(reverse("campaigns:challenges"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Visit 5 times" in html
    assert "1 of 5 visits" in html
    assert f'id="challenge-{visits.pk}-progress" max="100" value="20"' in html
    assert reverse("campaigns:challenge_join", args=[opt_in.pk]) in html
    assert "First buy" in html and "Completed on" in html
    assert "Starter" in html
    assert ChallengeProgress.objects.get(challenge=done).completed_at


def test_join_button_joins_once(member_client, member):
    challenge = ChallengeFactory(enrolment=Challenge.Enrolment.OPT_IN)
    url = reverse("campaigns:challenge_join", args=[challenge.pk])

    first = member_client.post(url, follow=True)
    member_client.post(url)

    assert first.status_code == 200
    assert "You joined" in first.content.decode()
    assert ChallengeProgress.objects.filter(challenge=challenge, member=member).count() == 1
    assert reverse("campaigns:challenge_join", args=[challenge.pk]) not in first.content.decode()


def test_join_refused_shows_the_reason_and_changes_nothing(member_client, member):
    challenge = ChallengeFactory()  # automatic: nothing to join

    response = member_client.post(
        reverse("campaigns:challenge_join", args=[challenge.pk]), follow=True
    )

    assert "nothing to join" in response.content.decode()
    assert not ChallengeProgress.objects.exists()


def test_join_needs_post_and_a_signed_in_member(client, member):
    challenge = ChallengeFactory(enrolment=Challenge.Enrolment.OPT_IN)
    url = reverse("campaigns:challenge_join", args=[challenge.pk])

    assert client.post(url).status_code == 302  # to the sign-in page
    assert not ChallengeProgress.objects.exists()


def test_challenges_of_another_segment_are_not_shown(member_client, member):
    segment = Segment.objects.create(name="VIPs only", vip="yes")
    ChallengeFactory(name="Secret", segment=segment, enrolment=Challenge.Enrolment.OPT_IN)

    html = member_client.get(reverse("campaigns:challenges")).content.decode()

    assert "Secret" not in html


def test_page_queries_do_not_grow_with_history(member_client, member, location):
    ChallengeFactory(goal=Challenge.Goal.SPEND, target=1000)
    url = reverse("campaigns:challenges")
    member_client.get(url)
    with CaptureQueriesContext(connection) as before:
        member_client.get(url)

    for i in range(5):
        done = ChallengeFactory(name=f"Old {i}", target=1)
        purchase_record(member=member, location=location, total="5.00")
        done.ends_at = timezone.now() + timedelta(seconds=1)
        done.starts_at = timezone.now() - timedelta(days=2)
        done.save()
        badge = BadgeFactory()
        MemberBadge.objects.create(member=member, badge=badge, source="staff", reason="x")
    Challenge.objects.filter(name__startswith="Old").update(is_active=False)
    member_client.get(url)  # the programme's settings are cached again, as before
    with CaptureQueriesContext(connection) as after:
        response = member_client.get(url)

    assert response.content.decode().count('data-testid="badge"') == 5
    assert response.content.decode().count('data-testid="challenge-completed"') == 5
    assert len(after) == len(before)


def test_dashboard_panel_shows_progress_and_badge_count(member_client, member, location):
    ChallengeFactory(name="Three buys", target=3)
    ChallengeFactory(name="Optional", enrolment=Challenge.Enrolment.OPT_IN)
    svc.badge_award(member=member, badge=BadgeFactory(), source="staff", reason="Welcome")
    purchase_record(member=member, location=location, total="5.00")

    html = member_client.get(reverse("portal:dashboard")).content.decode()

    assert 'data-testid="challenges-panel"' in html
    assert "Three buys: 1 of 3 purchases" in html
    assert "1 badge earned" in html
    assert "1 challenge is waiting for you to join." in html
    assert reverse("campaigns:challenges") in html
    assert "Challenges from the programme will appear here." not in html


def test_dashboard_panel_costs_one_query_while_no_challenge_runs(member, django_assert_num_queries):
    from campaigns.templatetags.challenge_tags import challenges_panel

    svc.challenges_cached()  # the configuration cache is warm, as on a busy site

    with django_assert_num_queries(1):
        context = challenges_panel(member)

    assert context == {"running": [], "joinable": 0, "badges": 0}
