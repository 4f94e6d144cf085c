"""A zero in a message's context reads as "none" in the template's conditions."""

from __future__ import annotations

from campaigns.messaging import message_send


def test_a_challenge_rewarded_with_a_voucher_only_does_not_announce_zero_points(member):
    logs = message_send(
        member=member,
        type_code="challenge_completed",
        context={"challenge": "Visit 5 times", "points": 0, "reward": "Free cappuccino"},
    )

    inbox = next(log for log in logs if log.channel == "inbox")
    assert "Visit 5 times" in inbox.body_text
    assert "You got" not in inbox.body_text


def test_points_in_a_message_are_formatted_for_the_members_language(member):
    logs = message_send(
        member=member,
        type_code="challenge_completed",
        context={"challenge": "Visit 5 times", "points": 1500},
    )

    inbox = next(log for log in logs if log.channel == "inbox")
    assert "You got 1,500" in inbox.body_text
