from django.urls import reverse

from loyalty.models import LedgerEntry
from loyalty.services import points_credit
from members.models import Member
from members.tests.factories import MemberFactory

CHANGELIST = reverse("admin:members_member_changelist")


def test_a_manager_erases_a_members_personal_data_and_the_ledger_stays(manager_client, program):
    member = MemberFactory(first_name="Anna", last_name="Virtanen")
    points_credit(member=member, points=40, reason="goodwill")

    response = manager_client.post(
        CHANGELIST, {"action": "erase_personal_data", "_selected_action": [member.pk]}, follow=True
    )

    assert response.status_code == 200
    member.refresh_from_db()
    assert member.erased_at is not None
    assert (member.phone, member.email, member.first_name, member.last_name) == (None, None, "", "")
    assert member.balance == 40
    assert LedgerEntry.objects.filter(member=member).count() == 1


def test_a_cashier_cannot_erase(cashier_client, program):
    member = MemberFactory(first_name="Anna")

    response = cashier_client.post(
        CHANGELIST, {"action": "erase_personal_data", "_selected_action": [member.pk]}
    )

    assert Member.objects.get(pk=member.pk).erased_at is None
    assert response.status_code in (200, 302, 403)
