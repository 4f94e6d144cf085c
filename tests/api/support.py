"""Helpers of the API tests: the error shape and snapshots that show nothing was written."""

from __future__ import annotations

from loyalty.models import Event, IdempotencyRecord, LedgerEntry, Purchase, Refund, Stamp, Visit
from rewards.models import PointsPayment, Voucher, VoucherUse


def assert_error(response, status: int, code: str | None = None) -> dict:
    """Check the status and the ``{"code", "detail", "fields"}`` body; return the body."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["fields"], dict)
    if code is not None:
        assert body["code"] == code, body
    return body


def writes() -> dict:
    """Count every row an API write could add (idempotency records included)."""
    return {
        "purchases": Purchase.objects.count(),
        "refunds": Refund.objects.count(),
        "visits": Visit.objects.count(),
        "ledger": LedgerEntry.objects.count(),
        "events": Event.objects.count(),
        "stamps": Stamp.objects.count(),
        "vouchers": Voucher.objects.count(),
        "voucher_states": tuple(Voucher.objects.order_by("pk").values_list("status", flat=True)),
        "uses": VoucherUse.objects.count(),
        "payments": PointsPayment.objects.count(),
        "idempotency": IdempotencyRecord.objects.count(),
    }
