"""Real threads on PostgreSQL: a campaign's per-member cap holds when purchases race."""

import pytest

from campaigns.models import CampaignAward
from campaigns.tests.test_bonus import make_campaign
from loyalty.services import purchase_record
from loyalty.tests.support import assert_ledger_clean, fresh
from loyalty.tests.test_concurrency import outcomes, run_together
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_purchases_racing_for_a_capped_bonus_never_pass_the_cap(program, location):
    member = MemberFactory()
    make_campaign(name="Bonus 40", kind="fixed", points=40, cap=100)

    results = run_together(
        8,
        lambda i: (
            purchase_record(
                member=member, location=location, total="1", external_id=f"R-{i}"
            ).points
        ),
    )

    assert outcomes(results) == {"ok": 8}
    # 1 base point each; the bonus gives 40, 40, 20 in some order, then nothing.
    assert sorted(points for _kind, points in results) == [1] * 5 + [21, 41, 41]
    assert sum(CampaignAward.objects.values_list("points", flat=True)) == 100
    assert fresh(member).lifetime_points == 8 + 100
    assert_ledger_clean()
