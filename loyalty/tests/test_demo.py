"""The demo command builds a sound, reproducible café programme and can be run again."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from loyalty.management.commands.demo import DEMO_EMAIL_DOMAIN
from loyalty.models import (
    EarnRule,
    Event,
    LedgerEntry,
    Location,
    LotAllocation,
    PointsLot,
    Program,
    Purchase,
    PurchaseLine,
    Refund,
    Visit,
)
from loyalty.roles import CASHIER, MANAGER
from loyalty.selectors import ledger_drift
from members.models import Member

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        "members": Member.objects.count(),
        "purchases": Purchase.objects.count(),
        "visits": Visit.objects.count(),
        "refunds": Refund.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "locations": Location.objects.count(),
        "rules": EarnRule.objects.count(),
    }


def _call(name: str, **kwargs) -> str:
    out = StringIO()
    call_command(name, stdout=out, **kwargs)
    return out.getvalue()


def _run(**kwargs) -> str:
    return _call("demo", **kwargs)


def test_demo_builds_a_programme_with_members_and_a_sound_ledger():
    # when
    _run(members=8)

    # then
    program = Program.objects.get()
    assert program.name == "Café Aroma"
    assert program.points_name == "beans"
    assert Location.objects.filter(code__startswith="aroma-").count() == 3
    members = Member.objects.filter(email__endswith="@" + DEMO_EMAIL_DOMAIN)
    assert members.count() == 8
    assert Purchase.objects.filter(member__in=members).exists()
    assert Purchase.objects.filter(lines__category="pastry").exists()
    assert LedgerEntry.objects.filter(kind="welcome").count() == 8
    assert LedgerEntry.objects.filter(kind="earn").count() == Purchase.objects.count()
    assert ledger_drift() == []
    assert "ledger OK" in _call("check_ledger")


def test_running_demo_twice_duplicates_nothing():
    # given
    _run(members=6)
    before = _counts()

    # when
    out = _run(members=6)

    # then
    assert _counts() == before
    assert "already exist" in out
    assert ledger_drift() == []


def _demo_snapshot():
    members = sorted(
        Member.objects.values_list("email", "phone", "first_name", "last_name", "language")
    )
    purchases = sorted(Purchase.objects.values_list("external_id", "total", "points_awarded"))
    return members, purchases


def _wipe_members_and_history():
    # Tests only: the ledger is append-only and protected, so delete from the leaves up.
    from loyalty.models import PunchCard, Stamp, TierChange
    from members.models import ConsentRecord, VipMembership
    from rewards.models import DigitalCode, PointsPayment, Voucher, VoucherUse

    DigitalCode.objects.update(voucher=None)
    PunchCard.objects.update(voucher=None)
    # Campaign rows that name members (referrals, progress, entries, messages...) go first;
    # they protect one another and vouchers, so delete until none is left.
    from django.apps import apps
    from django.db import transaction
    from django.db.models import ProtectedError

    pending = [
        model
        for model in apps.get_app_config("campaigns").get_models()
        if any(getattr(f, "related_model", None) is Member for f in model._meta.fields)
    ]
    for _round in range(len(pending) + 1):
        for model in list(pending):
            try:
                with transaction.atomic():
                    model.objects.all().delete()
                pending.remove(model)
            except ProtectedError:
                pass
    assert not pending
    for model in (
        VoucherUse,
        PointsPayment,
        Voucher,
        Stamp,
        PunchCard,
        TierChange,
        VipMembership,
        ConsentRecord,
        LotAllocation,
        LedgerEntry,
        PointsLot,
        Refund,
        PurchaseLine,
        Purchase,
        Visit,
    ):
        model.objects.all().delete()
    Event.objects.all().delete()
    Member.objects.all().delete()


def test_demo_is_reproducible_with_its_seed():
    # given
    _run(members=5)
    first = _demo_snapshot()
    _wipe_members_and_history()

    # when
    _run(members=5)

    # then
    assert _demo_snapshot() == first
    assert first[1]


@pytest.mark.parametrize(("username", "group"), [("manager", MANAGER), ("cashier", CASHIER)])
def test_demo_ensures_staff_accounts_in_their_groups(username, group):
    # given: the account exists but lost its staff flag and group
    _run(members=3)
    user = get_user_model().objects.get(username=username)
    user.is_staff = False
    user.save()
    user.groups.clear()

    # when
    _run(members=3)

    # then
    user.refresh_from_db()
    assert user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == [group]
    assert set(user.loyalty_locations.values_list("code", flat=True)) == {
        "aroma-kamppi",
        "aroma-kallio",
        "aroma-toolo",
    }
    assert user.check_password(f"aroma-{username}-demo")


def test_manager_may_adjust_points_and_cashier_may_not():
    _run(members=2)
    users = get_user_model().objects
    assert users.get(username="manager").has_perm("members.adjust_points")
    assert not users.get(username="cashier").has_perm("members.adjust_points")


def test_credentials_are_printed_only_in_debug(settings):
    settings.DEBUG = True
    assert "aroma-manager-demo" in _run(members=2)

    settings.DEBUG = False
    assert "aroma-manager-demo" not in _run(members=2)
