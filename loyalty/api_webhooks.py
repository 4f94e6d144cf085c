"""REST API for webhook subscriptions: list, create, read, change, delete, delivery log.

A key with the ``manage_webhooks`` permission sees and changes only the subscriptions it
created; partner keys cannot subscribe. The signing secret is returned once, on create.
Thin views over the services in ``loyalty.webhooks``; docs/webhooks.md is the guide.
"""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty import webhooks
from loyalty.api_base import IdCursorPagination, idempotent
from loyalty.models import ApiKey, WebhookDelivery, WebhookSubscription
from members.api import errors_for

P = ApiKey.Permission
TAGS = ["webhooks"]


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "url", "event_types", "is_active", "created_at"]
        read_only_fields = fields


class WebhookCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        help_text=_("Signing secret for X-Loyalty-Signature; returned only this once.")
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(
        max_length=500, help_text=_("http(s) URL on a public address that receives the events.")
    )
    # Checked by the service, which names the unknown types in one clear message.
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        max_length=len(webhooks.WEBHOOK_EVENT_TYPES),
        help_text=_("Event types to receive; empty or left out means every event. One of: ")
        + ", ".join(webhooks.WEBHOOK_EVENT_TYPES),
    )
    is_active = serializers.BooleanField(required=False, default=True)


class WebhookUpdateSerializer(WebhookInSerializer):
    is_active = serializers.BooleanField(required=False)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.type")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
        ]


_SUBSCRIPTION = {
    "id": 7,
    "name": "Web shop",
    "url": "https://shop.example.com/hooks/loyalty",
    "event_types": ["points.earned", "voucher.issued"],
    "is_active": True,
    "created_at": "2025-03-01T09:30:00Z",
}
CREATE_EXAMPLES = [
    OpenApiExample(
        "Subscribe to points and vouchers",
        value={
            "name": "Web shop",
            "url": "https://shop.example.com/hooks/loyalty",
            "event_types": ["points.earned", "voucher.issued"],
        },
        request_only=True,
    ),
    OpenApiExample(
        "Created, with the secret shown once",
        value={**_SUBSCRIPTION, "secret": "whsec_3q2-7wEcm0oLQ2vVwZqG1vT9p3n4kZyHk1nM0aR5xYc"},
        response_only=True,
        status_codes=["201"],
    ),
]
LIST_EXAMPLES = [
    OpenApiExample(
        "This key's subscriptions",
        value={"next": None, "previous": None, "results": [_SUBSCRIPTION]},
        response_only=True,
    )
]
UPDATE_EXAMPLES = [
    OpenApiExample("Pause", value={"is_active": False}, request_only=True),
    OpenApiExample("Paused", value={**_SUBSCRIPTION, "is_active": False}, response_only=True),
]
DELIVERY_EXAMPLES = [
    OpenApiExample(
        "A delivery being retried",
        value={
            "next": None,
            "previous": None,
            "results": [
                {
                    "id": 1201,
                    "event": 90412,
                    "event_type": "points.earned",
                    "status": "pending",
                    "attempts": 2,
                    "next_attempt_at": "2025-03-01T09:31:30Z",
                    "last_status_code": 503,
                    "last_error": "HTTP 503: Service Unavailable",
                    "delivered_at": None,
                    "created_at": "2025-03-01T09:30:00Z",
                }
            ],
        },
        response_only=True,
    )
]


def _own_subscriptions(request):
    return WebhookSubscription.objects.filter(api_key=request.auth)


def _validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class WebhookListCreate(generics.ListAPIView):
    """The key's own subscriptions; POST subscribes a URL."""

    required_permission = P.MANAGE_WEBHOOKS
    serializer_class = WebhookSubscriptionSerializer
    pagination_class = IdCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookSubscription.objects.none()
        return _own_subscriptions(self.request)

    @extend_schema(
        operation_id="webhooks_list",
        summary="This key's webhook subscriptions",
        tags=TAGS,
        examples=LIST_EXAMPLES,
        responses={200: WebhookSubscriptionSerializer(many=True), **errors_for(400)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="webhooks_create",
        summary="Subscribe a URL to events",
        description=_(
            "The answer holds the signing secret, shown only this once: store it to verify "
            "the X-Loyalty-Signature header. Partner keys cannot subscribe."
        ),
        tags=TAGS,
        request=WebhookInSerializer,
        examples=CREATE_EXAMPLES,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
        ],
        responses={201: WebhookCreatedSerializer, **errors_for(400, 409)},
    )
    def post(self, request):
        data = _validated(WebhookInSerializer, request.data)

        def create():
            subscription = webhooks.webhook_subscription_create(api_key=request.auth, **data)
            return Response(
                WebhookCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED
            )

        return idempotent(create, request)


class WebhookDetail(APIView):
    required_permission = P.MANAGE_WEBHOOKS

    def _get(self, request, pk: int) -> WebhookSubscription:
        return get_object_or_404(_own_subscriptions(request), pk=pk)

    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="A webhook subscription",
        tags=TAGS,
        examples=[OpenApiExample("Subscription", value=_SUBSCRIPTION, response_only=True)],
        responses={200: WebhookSubscriptionSerializer, **errors_for(404)},
    )
    def get(self, request, pk: int):
        return Response(WebhookSubscriptionSerializer(self._get(request, pk)).data)

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change a webhook subscription (name, URL, event types, paused)",
        tags=TAGS,
        request=WebhookUpdateSerializer,
        examples=UPDATE_EXAMPLES,
        responses={200: WebhookSubscriptionSerializer, **errors_for(400, 404)},
    )
    def patch(self, request, pk: int):
        subscription = self._get(request, pk)
        data = _validated(WebhookUpdateSerializer, request.data, partial=True)

        def update():
            webhooks.webhook_subscription_update(subscription=subscription, **data)
            return Response(WebhookSubscriptionSerializer(subscription).data)

        return idempotent(update, request)

    @extend_schema(
        operation_id="webhooks_delete",
        summary="Delete a webhook subscription and its delivery log",
        tags=TAGS,
        responses={204: None, **errors_for(404)},
    )
    def delete(self, request, pk: int):
        webhooks.webhook_subscription_delete(subscription=self._get(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)

    class Meta:
        model = WebhookDelivery
        fields = ["status"]


class WebhookDeliveries(generics.ListAPIView):
    """The delivery log of one subscription, newest first, keyset-paginated."""

    required_permission = P.MANAGE_WEBHOOKS
    serializer_class = WebhookDeliverySerializer
    pagination_class = IdCursorPagination
    filterset_class = DeliveryFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        subscription = get_object_or_404(_own_subscriptions(self.request), pk=self.kwargs["pk"])
        return webhooks.webhook_deliveries_of(subscription=subscription)

    @extend_schema(
        operation_id="webhooks_deliveries",
        summary="Delivery log of a webhook subscription (?cursor=, ?status=)",
        tags=TAGS,
        examples=DELIVERY_EXAMPLES,
        responses={200: WebhookDeliverySerializer(many=True), **errors_for(400, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


urlpatterns = [
    path("webhooks/", WebhookListCreate.as_view(), name="api-webhooks"),
    path("webhooks/<int:pk>/", WebhookDetail.as_view(), name="api-webhook"),
    path(
        "webhooks/<int:pk>/deliveries/",
        WebhookDeliveries.as_view(),
        name="api-webhook-deliveries",
    ),
]
