"""Celery tasks of the campaigns app: thin wrappers that call one service each."""

from celery import shared_task


@shared_task(name="campaigns.birthday_gifts_due", ignore_result=True)
def birthday_gifts_due() -> int:
    """Give today's birthday rewards."""
    from campaigns.actions import birthday_gifts_due as service

    return service()


@shared_task(name="campaigns.referrals_reward_due", ignore_result=True)
def referrals_reward_due() -> int:
    """Pay the referrals whose return window has closed; expire those past their deadline."""
    from campaigns.referrals import referrals_reward_due as service

    return service()


@shared_task(name="campaigns.referral_reward_pay", ignore_result=True)
def referral_reward_pay(referral_id: int) -> bool:
    """Pay one referral now (a return window of 0 days rewards right after the purchase)."""
    from campaigns.referrals import referral_reward_pay as service

    return service(referral_id=referral_id)


@shared_task(name="campaigns.message_deliver", ignore_result=True)
def message_deliver(log_id: int) -> None:
    """Deliver one queued email or SMS (routed to the ``messages`` queue in settings)."""
    from campaigns.messaging import message_deliver as service

    service(log_id=log_id)


@shared_task(name="campaigns.messages_send_due", ignore_result=True)
def messages_send_due() -> int:
    """Queue the email and SMS held back by quiet hours whose time has come."""
    from campaigns.messaging import messages_send_due as service

    return service()


@shared_task(name="campaigns.broadcast_run", ignore_result=True)
def broadcast_run(broadcast_id: int) -> int:
    """Send a broadcast to its segment in chunks (safe to run again: nothing goes twice)."""
    from campaigns.messaging import broadcast_run as service

    return service(broadcast_id=broadcast_id)


@shared_task(name="campaigns.points_expiring_warn", ignore_result=True)
def points_expiring_warn() -> int:
    """Warn members whose points expire soon (once per expiry date)."""
    from campaigns.nudges import points_expiring_warn as service

    return service()


@shared_task(name="campaigns.near_reward_nudge", ignore_result=True)
def near_reward_nudge() -> int:
    """Nudge members close to a reward or a full punch card (once a month each)."""
    from campaigns.nudges import near_reward_nudge as service

    return service()


@shared_task(name="campaigns.win_back_offer", ignore_result=True)
def win_back_offer() -> int:
    """Give the win-back offer to inactive members outside their cooldown."""
    from campaigns.nudges import win_back_offer as service

    return service()


@shared_task(name="campaigns.monthly_statement_send", ignore_result=True)
def monthly_statement_send() -> int:
    """Send last month's statement to members (once per month)."""
    from campaigns.nudges import monthly_statement_send as service

    return service()


@shared_task(name="campaigns.campaign_announcements", ignore_result=True)
def campaign_announcements() -> int:
    """Announce campaigns that have just started (once each)."""
    from campaigns.nudges import campaign_announcements as service

    return service()


@shared_task(name="campaigns.rfm_scores_refresh", ignore_result=True)
def rfm_scores_refresh() -> int:
    """Score every member's recency, frequency and spend (for segments)."""
    from campaigns.segments import rfm_scores_refresh as service

    return service()


@shared_task(name="campaigns.badges_milestones_award", ignore_result=True)
def badges_milestones_award() -> int:
    """Give the milestone badges (years of membership, points, visits) members have reached."""
    from campaigns.challenges import badges_milestones_award as service

    return service()


@shared_task(name="campaigns.sweepstakes_draw_due", ignore_result=True)
def sweepstakes_draw_due() -> int:
    """Draw the sweepstakes that have ended (each once; the seed is recorded)."""
    from campaigns.games import sweepstakes_draw_due as service

    return service()
