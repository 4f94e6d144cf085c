"""REST API of the programme core: purchases (quote, record, refund, offline batch), visits,
punch-card stamps by hand and the events feed (see docs/api.md).

Thin views: a small serializer checks the shape of the input, one service does the work, an
output serializer shapes the answer. The location of a purchase or a visit is the API key's
location, never a field of the request, so a till cannot record at another shop.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import django_filters
from django import forms
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty import errors
from loyalty.api_base import IdCursorPagination, error_body, idempotent, validation_fields
from loyalty.models import ApiKey, Event, Location, PunchCardType, Purchase, Source
from loyalty.punch_cards import MAX_MANUAL_STAMPS, punch_card_stamp
from loyalty.services import (
    MAX_LINES,
    MAX_QUANTITY,
    BatchItem,
    PurchaseResult,
    purchase_quote,
    purchase_record,
    purchase_refund,
    purchases_record_batch,
    visit_record,
)
from members.api import errors_for
from members.models import Member

P = ApiKey.Permission
MAX_ID = 2**31 - 1
MAX_BIGINT = 2**63 - 1
BATCH_MAX = 1000
BATCH_CHUNK = 100

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=_(
        "Any unique text up to 100 characters. A retry with the same key and body returns "
        "the first response (with the header Idempotent-Replayed: true); the same key with "
        "another body is refused with 409."
    ),
)


# --------------------------------------------------------------------------------------------
# Errors and lookups shared with rewards/api.py
# --------------------------------------------------------------------------------------------


class LocationRequired(errors.NotPermitted):
    code = "location_required"
    message = _(
        "This API key is not tied to a location. Use a location's key to record purchases, "
        "refunds, visits and payments."
    )


class PurchaseNotFound(errors.NotFound):
    code = "purchase_not_found"
    message = _("No purchase with this id was recorded at this key's location.")


class CardTypeNotFound(errors.NotFound):
    code = "card_type_not_found"
    message = _("No punch card has this id.")


def key_location(request) -> Location:
    """Return the API key's location or refuse: purchases and visits happen at a location."""
    location = request.auth.location
    if location is None:
        raise LocationRequired()
    return location


def member_get(pk: int, *, field: str | None = "member") -> Member:
    """Return the member with this id or raise ``MemberNotFound`` (404)."""
    member = Member.objects.filter(pk=pk).first() if 0 < pk <= MAX_ID else None
    if member is None:
        raise errors.MemberNotFound(_("No member has this id."), field=field)
    return member


def validated(serializer_class, data, **kwargs) -> dict[str, Any]:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --------------------------------------------------------------------------------------------
# Serializers
# --------------------------------------------------------------------------------------------


class MemberIdField(serializers.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class AmountField(serializers.DecimalField):
    """Money in the programme's currency: a decimal string with at most two decimals."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal("0"))
        super().__init__(**kwargs)


class LineSerializer(serializers.Serializer):
    sku = serializers.CharField(required=False, allow_blank=True, max_length=64)
    category = serializers.CharField(required=False, allow_blank=True, max_length=64)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    quantity = serializers.IntegerField(
        required=False, default=1, min_value=1, max_value=MAX_QUANTITY
    )
    amount = AmountField(help_text=_("The line's total (price × quantity)."))


class QuoteInSerializer(serializers.Serializer):
    member = MemberIdField()
    total = AmountField()
    lines = LineSerializer(many=True, required=False, max_length=MAX_LINES)
    occurred_at = serializers.DateTimeField(required=False)


class PurchaseInSerializer(QuoteInSerializer):
    external_id = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=64,
        help_text=_("The till's receipt number: a purchase is recorded once per receipt."),
    )


class AwardSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    points = serializers.IntegerField()
    rule_id = serializers.IntegerField(required=False)
    campaign_id = serializers.IntegerField(required=False)


class QuoteOutSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    awards = AwardSerializer(many=True)


class IssuedVoucherSerializer(serializers.Serializer):
    code = serializers.CharField()
    reward = serializers.CharField(source="reward.name")
    reward_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True)


class StampResultSerializer(serializers.Serializer):
    card_type = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    given = serializers.IntegerField()
    stamps = serializers.IntegerField(help_text=_("Stamps on the card now collecting."))
    stamps_needed = serializers.IntegerField()
    vouchers = IssuedVoucherSerializer(many=True)

    def to_representation(self, instance):
        card = instance.card
        card_type = card.card_type if card is not None else None
        return super().to_representation(
            {
                "card_type": card_type.pk if card_type else None,
                "name": card_type.name if card_type else "",
                "given": instance.given,
                "stamps": card.stamps if card is not None else 0,
                "stamps_needed": card_type.stamps_needed if card_type else 0,
                "vouchers": instance.vouchers,
            }
        )


class PurchaseOutSerializer(serializers.Serializer):
    purchase = serializers.IntegerField(source="purchase.pk")
    external_id = serializers.CharField(source="purchase.external_id", allow_null=True)
    created = serializers.BooleanField(
        help_text=_("False when this receipt had already been recorded: nothing more awarded.")
    )
    member = serializers.IntegerField(source="purchase.member_id")
    total = serializers.DecimalField(source="purchase.total", max_digits=12, decimal_places=2)
    points = serializers.IntegerField()
    awards = AwardSerializer(many=True)
    balance = serializers.IntegerField(source="member.balance")
    pending = serializers.IntegerField(source="member.pending")
    stamps = StampResultSerializer(many=True)
    vouchers = IssuedVoucherSerializer(many=True)


def purchase_out(result: PurchaseResult, member: Member) -> dict:
    return PurchaseOutSerializer(
        {
            "purchase": result.purchase,
            "created": result.created,
            "points": result.points,
            "awards": result.awards,
            "member": member,
            "stamps": [s for s in result.stamps if s.given or s.vouchers],
            "vouchers": result.vouchers,
        }
    ).data


class RefundInSerializer(serializers.Serializer):
    amount = AmountField(
        required=False,
        allow_null=True,
        help_text=_("Leave out for a full refund of what is left."),
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255)


class RefundOutSerializer(serializers.Serializer):
    refund = serializers.IntegerField(source="pk")
    purchase = serializers.IntegerField(source="purchase_id")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    points_taken_back = serializers.IntegerField(source="points_clawed_back")
    refunded_total = serializers.DecimalField(
        source="purchase.refunded_amount", max_digits=12, decimal_places=2
    )
    balance = serializers.IntegerField(source="purchase.member.balance")
    owed = serializers.IntegerField(
        source="purchase.member.points_debt",
        help_text=_("Points the member owes because they had already spent them."),
    )


class BatchInSerializer(serializers.Serializer):
    # Items are checked one by one in the view, so a bad item (even null) gets its own result.
    purchases = serializers.ListField(
        child=serializers.JSONField(allow_null=True), min_length=1, max_length=BATCH_MAX
    )


class BatchItemSerializer(PurchaseInSerializer):
    external_id = serializers.CharField(max_length=64)


class BatchDocSerializer(serializers.Serializer):
    """The documented shape of a batch (each item is checked on its own)."""

    purchases = BatchItemSerializer(many=True, min_length=1, max_length=BATCH_MAX)


class BatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    purchase = serializers.IntegerField(required=False)
    points = serializers.IntegerField(required=False)
    code = serializers.CharField(required=False)
    detail = serializers.CharField(required=False)
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class BatchOutSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = BatchResultSerializer(many=True)


class VisitInSerializer(serializers.Serializer):
    member = MemberIdField()


class VisitOutSerializer(serializers.Serializer):
    visit = serializers.IntegerField(source="pk")
    member = serializers.IntegerField(source="member_id")
    points = serializers.IntegerField(source="points_awarded")
    balance = serializers.IntegerField(source="member.balance")
    stamps = serializers.SerializerMethodField()

    def get_stamps(self, obj) -> list[dict]:
        results = [s for s in getattr(obj, "stamp_results", ()) if s.given or s.vouchers]
        return StampResultSerializer(results, many=True).data


class StampInSerializer(serializers.Serializer):
    card_type = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    count = serializers.IntegerField(
        required=False, default=1, min_value=1, max_value=MAX_MANUAL_STAMPS
    )
    reason = serializers.CharField(max_length=255)


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "type", "member", "payload", "created_at"]


# --------------------------------------------------------------------------------------------
# Examples for the till flow
# --------------------------------------------------------------------------------------------

_LINES = [
    {"sku": "LATTE", "category": "coffee", "quantity": 2, "amount": "7.00"},
    {"sku": "CROISSANT", "category": "pastry", "quantity": 1, "amount": "5.50"},
]
_AWARDS = [{"code": "base", "label": "1 point per €1 spent", "points": 12}]
QUOTE_EXAMPLES = [
    OpenApiExample(
        "Quote at the till",
        value={"member": 42, "total": "12.50", "lines": _LINES},
        request_only=True,
    ),
    OpenApiExample(
        "Points it would earn", value={"points": 12, "awards": _AWARDS}, response_only=True
    ),
]
PURCHASE_EXAMPLES = [
    OpenApiExample(
        "Record a receipt",
        value={"member": 42, "total": "12.50", "external_id": "R-2024-0001", "lines": _LINES},
        request_only=True,
    ),
    OpenApiExample(
        "Recorded",
        value={
            "purchase": 981,
            "external_id": "R-2024-0001",
            "created": True,
            "member": 42,
            "total": "12.50",
            "points": 12,
            "awards": _AWARDS,
            "balance": 340,
            "pending": 12,
            "stamps": [
                {
                    "card_type": 3,
                    "name": "Coffee card",
                    "given": 1,
                    "stamps": 0,
                    "stamps_needed": 10,
                    "vouchers": [
                        {
                            "code": "H7K2MX9QPR",
                            "reward": "Free coffee",
                            "reward_id": 7,
                            "expires_at": "2025-01-31T21:59:59Z",
                        }
                    ],
                }
            ],
            "vouchers": [
                {
                    "code": "H7K2MX9QPR",
                    "reward": "Free coffee",
                    "reward_id": 7,
                    "expires_at": "2025-01-31T21:59:59Z",
                }
            ],
        },
        response_only=True,
        status_codes=["201"],
    ),
]
REFUND_EXAMPLES = [
    OpenApiExample(
        "Partial refund",
        value={"amount": "5.50", "reason": "Croissant returned"},
        request_only=True,
    ),
    OpenApiExample("Full refund", value={"reason": "Whole receipt returned"}, request_only=True),
    OpenApiExample(
        "Refunded",
        value={
            "refund": 17,
            "purchase": 981,
            "amount": "5.50",
            "points_taken_back": 5,
            "refunded_total": "5.50",
            "balance": 335,
            "owed": 0,
        },
        response_only=True,
        status_codes=["201"],
    ),
]
BATCH_EXAMPLES = [
    OpenApiExample(
        "Offline queue",
        value={
            "purchases": [
                {
                    "member": 42,
                    "total": "12.50",
                    "external_id": "R-2024-0001",
                    "occurred_at": "2024-12-01T09:14:00+02:00",
                },
                {"member": 43, "total": "-1", "external_id": "R-2024-0002"},
            ]
        },
        request_only=True,
    ),
    OpenApiExample(
        "Per-item results",
        value={
            "created": 1,
            "duplicates": 0,
            "errors": 1,
            "results": [
                {
                    "index": 0,
                    "external_id": "R-2024-0001",
                    "status": "created",
                    "purchase": 981,
                    "points": 12,
                },
                {
                    "index": 1,
                    "external_id": "R-2024-0002",
                    "status": "error",
                    "code": "invalid",
                    "detail": "Ensure this value is greater than or equal to 0.",
                    "fields": {"total": ["Ensure this value is greater than or equal to 0."]},
                },
            ],
        },
        response_only=True,
    ),
]


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


class PurchaseQuoteView(APIView):
    required_permission = P.RECORD_PURCHASES

    @extend_schema(
        operation_id="purchases_quote",
        summary="Quote the points a purchase would earn (dry run, writes nothing)",
        tags=["purchases"],
        request=QuoteInSerializer,
        responses={200: QuoteOutSerializer, **errors_for(400, 404)},
        examples=QUOTE_EXAMPLES,
    )
    def post(self, request):
        data = validated(QuoteInSerializer, request.data)
        result = purchase_quote(
            member=member_get(data["member"]),
            location=request.auth.location,
            total=data["total"],
            lines=data.get("lines", ()),
            at=data.get("occurred_at"),
        )
        awards = [a.as_dict() for a in result.awards]
        return Response(QuoteOutSerializer({"points": result.points, "awards": awards}).data)


class PurchaseRecordView(APIView):
    required_permission = P.RECORD_PURCHASES

    @extend_schema(
        operation_id="purchases_record",
        summary="Record a purchase at the key's location and award its points",
        description=_(
            "Recorded once per receipt (external_id) at a location: sending a receipt again "
            "returns the first result with created=false (status 200) and awards nothing more. "
            "Send an Idempotency-Key header to get the first response back on a retry."
        ),
        tags=["purchases"],
        request=PurchaseInSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: PurchaseOutSerializer,
            200: OpenApiResponse(PurchaseOutSerializer, description="Receipt already recorded"),
            **errors_for(400, 404, 409),
        },
        examples=PURCHASE_EXAMPLES,
    )
    def post(self, request):
        data = validated(PurchaseInSerializer, request.data)
        location = key_location(request)

        def record():
            member = member_get(data["member"])
            result = purchase_record(
                member=member,
                location=location,
                total=data["total"],
                lines=data.get("lines", ()),
                occurred_at=data.get("occurred_at"),
                external_id=data.get("external_id"),
                source=Source.API,
            )
            code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
            return Response(purchase_out(result, member), status=code)

        return idempotent(record, request)


class PurchaseRefundView(APIView):
    required_permission = P.RECORD_PURCHASES

    @extend_schema(
        operation_id="purchases_refund",
        summary="Refund a purchase in full or in part; its points are taken back in proportion",
        tags=["purchases"],
        request=RefundInSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: RefundOutSerializer, **errors_for(400, 404, 409)},
        examples=REFUND_EXAMPLES,
    )
    def post(self, request, pk: int):
        data = validated(RefundInSerializer, request.data)
        location = key_location(request)

        def refund():
            purchase = (
                Purchase.objects.select_related("member").filter(pk=pk, location=location).first()
                if pk <= MAX_ID
                else None
            )
            if purchase is None:
                raise PurchaseNotFound()
            done = purchase_refund(
                purchase=purchase, amount=data.get("amount"), reason=data.get("reason", "")
            )
            done.purchase = purchase
            return Response(RefundOutSerializer(done).data, status=status.HTTP_201_CREATED)

        return idempotent(refund, request)


class PurchaseBatchView(APIView):
    """Record an offline till's queue: each item once per receipt, results item by item."""

    required_permission = P.RECORD_PURCHASES

    @extend_schema(
        operation_id="purchases_batch",
        summary="Upload up to 1,000 purchases at once (an offline till's queue)",
        description=_(
            "Each purchase needs its receipt number (external_id) and is recorded once: an "
            "item already recorded, in this upload or an earlier one, comes back as "
            "'duplicate' and awards nothing. A bad item does not stop the others; its result "
            "has status 'error' with code and detail. Upload the same queue again safely "
            "(no Idempotency-Key needed: the receipt numbers make every item idempotent)."
        ),
        tags=["purchases"],
        request=BatchDocSerializer,
        responses={200: BatchOutSerializer, **errors_for(400)},
        examples=BATCH_EXAMPLES,
    )
    def post(self, request):
        items = validated(BatchInSerializer, request.data)["purchases"]
        location = key_location(request)
        checked = [self._check(item) for item in items]
        results: list[dict] = []
        # A transaction per chunk of a hundred, recorded set-based by the service. Should a
        # concurrent upload insert one of the receipts meanwhile, that chunk is recorded
        # again item by item (a savepoint each), which turns the clash into a duplicate.
        for start in range(0, len(checked), BATCH_CHUNK):
            indexes = range(start, min(start + BATCH_CHUNK, len(checked)))
            try:
                with transaction.atomic():
                    results.extend(self._record_chunk(indexes, items, checked, location))
            except IntegrityError:
                ids = {checked[i][0]["member"] for i in indexes if checked[i][0] is not None}
                members = Member.objects.in_bulk(ids)
                with transaction.atomic():
                    for index in indexes:
                        data, error = checked[index]
                        results.append(
                            self._record(index, items[index], data, error, members, location)
                        )
        counts = {
            s: sum(1 for r in results if r["status"] == s)
            for s in ("created", "duplicate", "error")
        }
        body = {
            "created": counts["created"],
            "duplicates": counts["duplicate"],
            "errors": counts["error"],
            "results": results,
        }
        return Response(BatchOutSerializer(body).data)

    @staticmethod
    def _record_chunk(indexes, items, checked, location) -> list[dict]:
        valid = [i for i in indexes if checked[i][1] is None]
        outcomes = purchases_record_batch(
            location=location,
            items=[
                BatchItem(
                    member_id=checked[i][0]["member"],
                    total=checked[i][0]["total"],
                    external_id=checked[i][0]["external_id"],
                    lines=checked[i][0].get("lines", ()),
                    occurred_at=checked[i][0].get("occurred_at"),
                )
                for i in valid
            ],
            source=Source.API,
        )
        by_index = dict(zip(valid, outcomes, strict=True))
        rows = []
        for index in indexes:
            raw = items[index]
            external_id = raw.get("external_id") if isinstance(raw, dict) else None
            base = {
                "index": index,
                "external_id": str(external_id) if external_id is not None else None,
            }
            if index not in by_index:
                rows.append({**base, "status": "error", **checked[index][1]})
                continue
            outcome = by_index[index]
            if outcome.error is not None:
                exc = outcome.error
                fields = {exc.field: [exc.detail]} if exc.field else {}
                rows.append({**base, "status": "error", **error_body(exc.code, exc.detail, fields)})
            else:
                rows.append(
                    {
                        **base,
                        "status": outcome.status,
                        "purchase": outcome.purchase.pk,
                        "points": outcome.points,
                    }
                )
        return rows

    @staticmethod
    def _check(item) -> tuple[dict | None, dict | None]:
        if not isinstance(item, dict):
            return None, error_body("invalid", str(_("Each purchase must be an object.")))
        serializer = BatchItemSerializer(data=item)
        if serializer.is_valid():
            return dict(serializer.validated_data), None
        fields = validation_fields(serializer.errors)
        first = next(iter(fields.values()), [""])[0]
        return None, error_body("invalid", first, fields)

    @staticmethod
    def _record(index, raw, data, error, members, location) -> dict:
        external_id = raw.get("external_id") if isinstance(raw, dict) else None
        base = {
            "index": index,
            "external_id": str(external_id) if external_id is not None else None,
        }
        if error is not None:
            return {**base, "status": "error", **error}
        member = members.get(data["member"])
        try:
            if member is None:
                raise errors.MemberNotFound(_("No member has this id."), field="member")
            with transaction.atomic():
                result = purchase_record(
                    member=member,
                    location=location,
                    total=data["total"],
                    lines=data.get("lines", ()),
                    occurred_at=data.get("occurred_at"),
                    external_id=data["external_id"],
                    source=Source.API,
                )
        except errors.LoyaltyError as exc:
            fields = {exc.field: [exc.detail]} if exc.field else {}
            return {**base, "status": "error", **error_body(exc.code, exc.detail, fields)}
        return {
            **base,
            "status": "created" if result.created else "duplicate",
            "purchase": result.purchase.pk,
            "points": result.points,
        }


class VisitView(APIView):
    required_permission = P.RECORD_PURCHASES

    @extend_schema(
        operation_id="visits_record",
        summary="Record a visit (check-in without a purchase) at the key's location",
        tags=["visits"],
        request=VisitInSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: VisitOutSerializer, **errors_for(400, 404, 409)},
        examples=[
            OpenApiExample("Check in", value={"member": 42}, request_only=True),
            OpenApiExample(
                "Checked in",
                value={"visit": 55, "member": 42, "points": 5, "balance": 345, "stamps": []},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        data = validated(VisitInSerializer, request.data)
        location = key_location(request)

        def visit():
            member = member_get(data["member"])
            done = visit_record(member=member, location=location, source=Source.API)
            done.member = member
            return Response(VisitOutSerializer(done).data, status=status.HTTP_201_CREATED)

        return idempotent(visit, request)


class MemberStampView(APIView):
    required_permission = P.RECORD_PURCHASES

    @extend_schema(
        operation_id="members_stamp",
        summary="Add stamps by hand to a member's punch card (a reason is required)",
        tags=["members"],
        request=StampInSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: StampResultSerializer, **errors_for(400, 404, 409)},
        examples=[
            OpenApiExample(
                "Stamp by hand",
                value={"card_type": 3, "count": 1, "reason": "Till was offline"},
                request_only=True,
            ),
            OpenApiExample(
                "Stamped",
                value={
                    "card_type": 3,
                    "name": "Coffee card",
                    "given": 1,
                    "stamps": 7,
                    "stamps_needed": 10,
                    "vouchers": [],
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request, pk: int):
        data = validated(StampInSerializer, request.data)

        def stamp():
            member = member_get(pk, field=None)
            card_type = PunchCardType.objects.filter(pk=data["card_type"]).first()
            if card_type is None:
                raise CardTypeNotFound(field="card_type")
            result = punch_card_stamp(
                member=member, card_type=card_type, count=data["count"], reason=data["reason"]
            )
            return Response(StampResultSerializer(result).data, status=status.HTTP_201_CREATED)

        return idempotent(stamp, request)


class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number in the database's range (a bigger one is bad input, not a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(*args, **kwargs)


class EventFilter(django_filters.FilterSet):
    type = django_filters.CharFilter(help_text=_("Only events of this type, e.g. points.earned."))
    member = IdFilter(field_name="member_id")
    after = IdFilter(
        field_name="id",
        lookup_expr="gt",
        help_text=_("Only events with an id above this one (the last id you have seen)."),
    )

    class Meta:
        model = Event
        fields = ["type", "member", "after"]


class EventCursorPagination(IdCursorPagination):
    """Oldest first, so a poller reads the feed in the order things happened."""

    ordering = "id"


class EventFeedView(generics.ListAPIView):
    """The outbox as a feed for integrators that poll instead of receiving webhooks."""

    required_permission = P.READ_EVENTS
    serializer_class = EventSerializer
    pagination_class = EventCursorPagination
    filterset_class = EventFilter
    queryset = Event.objects.all()

    @extend_schema(
        operation_id="events_list",
        summary="The events feed, oldest first, keyset-paginated (?cursor=)",
        description=_(
            "Poll with ?after=<the last id seen>; filter with ?type= and ?member=. "
            "Follow the 'next' link while there is one."
        ),
        tags=["events"],
        responses={200: EventSerializer(many=True), **errors_for(400, 404)},
        examples=[
            OpenApiExample(
                "Events after id 90411",
                value={
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "id": 90412,
                            "type": "points.earned",
                            "member": 42,
                            "payload": {"points": 12, "purchase": 981, "balance": 352},
                            "created_at": "2024-12-01T09:15:00Z",
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class HealthOutSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])


class HealthView(APIView):
    """Liveness probe: the web process answers. No key, no throttle, no database query."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

    @extend_schema(
        operation_id="health",
        summary='Liveness probe: answers {"status": "ok"} without a key or the database',
        description=_(
            "For load balancers and monitoring. It tells that a web process is up and "
            "answering; it does not query the database, so it stays cheap under load."
        ),
        tags=["health"],
        auth=[],
        responses={200: HealthOutSerializer},
    )
    def get(self, request):
        return Response({"status": "ok"})


@csrf_exempt
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Answer an address under /api/v1/ that matches no endpoint in the API's error shape."""
    body = error_body("not_found", str(_("There is no API endpoint at this address.")))
    return JsonResponse(body, status=404)


urlpatterns = [
    path("purchases/", PurchaseRecordView.as_view(), name="api-purchases"),
    path("purchases/quote/", PurchaseQuoteView.as_view(), name="api-purchases-quote"),
    path("purchases/batch/", PurchaseBatchView.as_view(), name="api-purchases-batch"),
    path("purchases/<int:pk>/refunds/", PurchaseRefundView.as_view(), name="api-purchase-refunds"),
    path("visits/", VisitView.as_view(), name="api-visits"),
    path("members/<int:pk>/stamps/", MemberStampView.as_view(), name="api-member-stamps"),
    path("events/", EventFeedView.as_view(), name="api-events"),
    path("health/", HealthView.as_view(), name="api-health"),
]
