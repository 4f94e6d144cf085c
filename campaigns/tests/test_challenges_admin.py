"""Admin of challenges and badges, as a manager and as a cashier."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Badge, Challenge, ChallengeProgress, MemberBadge
from campaigns.tests.challenges_support import BadgeFactory, ChallengeFactory
from loyalty.services import purchase_record
from members.tests.factories import MemberFactory


@pytest.fixture(autouse=True)
def _quiet_messages(monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])


def _png() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (4, 4), "gold").save(buffer, format="PNG")
    return buffer.getvalue()


def _challenge_form(**overrides) -> dict:
    now = timezone.localtime()
    data = {
        "name_en": "Visit 5 times in May",
        "description_en": "",
        "is_active": "on",
        "goal": "visits",
        "target": "5",
        "category": "",
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00",
        "ends_at_0": (now + timedelta(days=30)).strftime("%Y-%m-%d"),
        "ends_at_1": "00:00:00",
        "enrolment": "auto",
        "segment": "",
        "reward_points": "100",
        "reward": "",
        "badge": "",
    }
    data.update(overrides)
    return data


def test_manager_creates_a_challenge(staff_roles, manager_client):
    response = manager_client.post(reverse("admin:campaigns_challenge_add"), _challenge_form())

    assert response.status_code == 302, response.content.decode()[:2000]
    challenge = Challenge.objects.get()
    assert (challenge.goal, challenge.target, challenge.reward_points) == ("visits", 5, 100)


def test_bad_challenge_shows_clear_errors_and_saves_nothing(staff_roles, manager_client):
    now = timezone.localtime()
    response = manager_client.post(
        reverse("admin:campaigns_challenge_add"),
        _challenge_form(
            goal="category_purchases",
            reward_points="0",
            ends_at_0=(now - timedelta(days=2)).strftime("%Y-%m-%d"),
        ),
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "The challenge must end after it starts." in html
    assert "Give a reward" in html
    assert "The category goal needs a category." in html
    assert not Challenge.objects.exists()


def test_change_page_shows_participants_and_completions(
    staff_roles, manager_client, program, location
):
    challenge = ChallengeFactory(target=1)
    purchase_record(member=MemberFactory(), location=location, total="5.00")
    ChallengeProgress.objects.create(
        challenge=challenge, member=MemberFactory(), joined_at=timezone.now()
    )

    response = manager_client.get(reverse("admin:campaigns_challenge_change", args=[challenge.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "participants" in html.lower()
    assert f'?challenge__id__exact={challenge.pk}">2</a>' in html
    assert '<div class="readonly">1</div>' in html


def test_manager_uploads_a_badge_with_an_image_preview(
    staff_roles, manager_client, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    response = manager_client.post(
        reverse("admin:campaigns_badge_add"),
        {
            "name_en": "Regular",
            "description_en": "Came back often",
            "image": SimpleUploadedFile("regular.png", _png(), content_type="image/png"),
            "is_active": "on",
            "milestone": "visits",
            "milestone_value": "10",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    badge = Badge.objects.get()
    assert badge.image.name.startswith("badges/")
    listing = manager_client.get(reverse("admin:campaigns_badge_changelist")).content.decode()
    assert badge.image.url in listing


def test_manager_gives_a_badge_with_a_reason(staff_roles, manager_client, manager_user, member):
    badge = BadgeFactory(name="Helper")
    url = reverse("admin:campaigns_memberbadge_add")

    refused = manager_client.post(url, {"member": member.pk, "badge": badge.pk, "reason": ""})
    given = manager_client.post(
        url, {"member": member.pk, "badge": badge.pk, "reason": "Charity run"}, follow=True
    )
    again = manager_client.post(
        url, {"member": member.pk, "badge": badge.pk, "reason": "Again"}, follow=True
    )

    assert refused.status_code == 200
    assert "This field is required." in refused.content.decode()
    assert "got the badge Helper" in given.content.decode()
    assert "already has the badge Helper" in again.content.decode()
    held = MemberBadge.objects.get()
    assert (held.source, held.actor, held.reason) == ("staff", manager_user, "Charity run")


def test_progress_is_read_only_for_managers(staff_roles, manager_client, member):
    row = ChallengeProgress.objects.create(
        challenge=ChallengeFactory(), member=member, joined_at=timezone.now()
    )

    listing = manager_client.get(reverse("admin:campaigns_challengeprogress_changelist"))
    page = manager_client.get(reverse("admin:campaigns_challengeprogress_change", args=[row.pk]))
    add = manager_client.get(reverse("admin:campaigns_challengeprogress_add"))

    assert listing.status_code == 200
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert add.status_code == 403


def test_cashier_sees_member_badges_but_cannot_give_or_edit_challenges(
    staff_roles, cashier_client, member
):
    MemberBadge.objects.create(member=member, badge=BadgeFactory(), source="staff", reason="x")

    assert cashier_client.get(reverse("admin:campaigns_memberbadge_changelist")).status_code == 200
    assert cashier_client.get(reverse("admin:campaigns_memberbadge_add")).status_code == 403
    assert cashier_client.get(reverse("admin:campaigns_challenge_add")).status_code == 403
    assert cashier_client.get(reverse("admin:campaigns_badge_changelist")).status_code == 403
