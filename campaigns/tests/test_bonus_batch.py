"""The set-based purchase batch gives the same campaign points as one-by-one recording."""

from decimal import Decimal

import pytest
from django.db import transaction

from campaigns.models import CampaignAward
from campaigns.tests.test_bonus import make_campaign
from loyalty import hooks
from loyalty.selectors import ledger_drift
from loyalty.services import purchases_record_batch
from loyalty.tests.test_purchase_batch import _items, _one_by_one, _snapshot, setup  # noqa: F401


def _awards(members):
    return sorted(
        CampaignAward.objects.filter(member__in=members).values_list(
            "member_id", "purchase__external_id", "campaign__name", "points"
        )
    )


@pytest.mark.parametrize("kind", ["plain", "capped", "category_at_location"])
def test_a_batch_gives_what_one_by_one_would_with_campaigns(setup, location, kind):  # noqa: F811
    members = setup
    if kind == "plain":
        make_campaign(name="Double points")
        make_campaign(name="Best +3", kind="fixed", points=3, stacking="best")
    elif kind == "capped":
        make_campaign(name="Capped +15", kind="fixed", points=15, cap=20)
    else:
        make_campaign(
            name="Pastry triple",
            multiplier=Decimal("3"),
            category="pastry",
            locations=[location],
        )
    # Campaigns with a cap (or a segment) need each member's state: the batch goes one by one.
    assert hooks.any_active("purchase_hooks_active") is (kind == "capped")
    items = _items(members)

    with transaction.atomic():
        statuses = [r.status for r in purchases_record_batch(location=location, items=items)]
        batch = _snapshot(members)
        batch_awards = _awards(members)
        assert ledger_drift() == []
        transaction.set_rollback(True)

    with transaction.atomic():
        expected_statuses = _one_by_one(location, items)
        expected = _snapshot(members)
        expected_awards = _awards(members)
        transaction.set_rollback(True)

    assert statuses == expected_statuses
    assert batch == expected
    assert batch_awards == expected_awards
    assert batch_awards  # the campaign did give points
