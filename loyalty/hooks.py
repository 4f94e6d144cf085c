"""Extension points of the programme core for other apps (campaigns, referrals, games).

The core services call these at fixed moments, inside their transaction and with the
member's row locked; the ``campaigns`` app registers its handlers in ``AppConfig.ready``.
A handler that raises aborts the whole write, so handlers must only raise for real errors.

* ``purchase_recorded(member=locked, purchase=..., total=..., lines=..., location=..., at=...,
  actor=...)`` after a purchase's points are credited.
* ``visit_recorded(member=locked, visit=..., location=..., at=..., actor=...)``.
* ``purchase_refunded(member=locked, purchase=..., refund=..., at=..., actor=...)``.
* ``member_enrolled(member=..., referral_code=..., via=..., at=..., actor=...)`` right after
  the member row exists (in the enrolment's transaction).
* ``member_updated(member=..., changed=[field names], actor=...)`` after ``member_update``
  saved a change to the profile (in its transaction, the member locked).
* ``member_consent_changed(member=..., channel=..., granted=..., source=..., at=..., actor=...)``
  after ``member_consent_set`` recorded a consent (in its transaction, the member locked).
* ``points_earned(member_id=..., points=..., at=...)`` whenever earned points are credited
  (positive) or taken back by a refund (negative); used for the leaderboard.
  ``points_earned_bulk(rows=[(member_id, points, at), ...])`` the same for the set-based
  purchase batch.
* ``purchases_recorded_bulk(purchases=[...])`` after the set-based batch inserted purchases
  without calling ``purchase_recorded`` (their ``awards`` name what each earned).
* ``member_erased(member=locked, at=..., actor=...)`` when ``member_erase`` forgets a member
  (inside its transaction): drop what other apps keep about them (e.g. a leaderboard name).

* ``member_export(member=...)`` returns a dict of extra sections for "download my data";
  ``collect`` merges what every handler returns.

``campaign_specs`` and ``member_campaign_state`` let the campaigns app feed the earning
engine without the core importing it: the first, ``campaign_specs()``, returns the active bonus
campaigns as ``engine.CampaignSpec`` (cached by ``selectors.program_rules``); the second,
``member_campaign_state(member=..., campaigns=[specs with a segment or cap], at=...)``,
returns ``{"segment_ids": ..., "campaign_points": {campaign_id: points already given}}`` and
is called only while such a campaign's window contains the purchase time.

``referral_code_check(code=...)`` lets a sign-up form check a referral code before enrolling
(it raises the ``LoyaltyError`` the form shows; ``member_enroll`` checks again).

``purchase_hooks_active(members=[...])`` tells the set-based purchase batch whether
per-purchase handlers have work to do for the upload's members; when any says yes, the batch
records purchases one at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_handlers: dict[str, list[Callable[..., Any]]] = {
    "purchase_recorded": [],
    "visit_recorded": [],
    "purchase_refunded": [],
    "member_enrolled": [],
    "member_updated": [],
    "member_consent_changed": [],
    "member_erased": [],
    "member_export": [],
    "points_earned": [],
    "points_earned_bulk": [],
    "purchases_recorded_bulk": [],
    "purchase_hooks_active": [],
}
_providers: dict[str, Callable[..., Any] | None] = {
    "campaign_specs": None,
    "member_campaign_state": None,
    "referral_code_check": None,
}


def register(event: str, handler: Callable[..., Any]) -> None:
    """Add ``handler`` for ``event`` (idempotent: the same function is added once)."""
    handlers = _handlers[event]
    if handler not in handlers:
        handlers.append(handler)


def provide(name: str, provider: Callable[..., Any]) -> None:
    """Install the single provider called ``name`` (see the module docstring)."""
    if name not in _providers:
        raise KeyError(name)
    _providers[name] = provider


def fire(event: str, **kwargs: Any) -> None:
    """Call every handler of ``event`` with ``kwargs``, in registration order."""
    for handler in _handlers[event]:
        handler(**kwargs)


def collect(event: str, **kwargs: Any) -> dict[str, Any]:
    """Call every handler of ``event`` and merge the dicts they return."""
    merged: dict[str, Any] = {}
    for handler in _handlers[event]:
        merged.update(handler(**kwargs) or {})
    return merged


def any_active(event: str = "purchase_hooks_active", **kwargs: Any) -> bool:
    """True if any handler of a yes/no ``event`` answers yes."""
    return any(handler(**kwargs) for handler in _handlers[event])


def provided(name: str, default: Any, **kwargs: Any) -> Any:
    """Call the provider ``name`` or return ``default`` when no app installed one."""
    provider = _providers[name]
    return default if provider is None else provider(**kwargs)
