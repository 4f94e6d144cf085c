"""Shared pieces of the REST API: API-key authentication, permissions, errors, idempotency.

Every app's ``api.py`` builds its views from these, so all endpoints authenticate, fail
and retry the same way:

* ``Authorization: Bearer lk_<id>_<secret>`` (or ``X-Api-Key``) identifies an ``ApiKey``.
* Views name the key permission they need in ``required_permission``.
* Errors are ``{"code", "detail", "fields"}`` with 400/401/403/404/409/422/429 statuses.
* Writes accept an ``Idempotency-Key`` header (``idempotent`` wrapper): a retry returns the
  first response; the same key with another request body is a 409.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, parsers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from loyalty import errors
from loyalty.models import ApiKey, IdempotencyRecord

KEY_PREFIX = "lk_"
IDEMPOTENCY_TTL = timedelta(days=1)


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *,
    name: str,
    permissions: list[str],
    location=None,
    partner=None,
    actor=None,
) -> tuple[ApiKey, str]:
    """Create an API key; return it and the full key text, which is shown only this once."""
    name = (name or "").strip()
    if not name:
        raise errors.InvalidInput(_("Give the key a name."), field="name")
    unknown = set(permissions) - set(ApiKey.Permission.values)
    if unknown:
        raise errors.InvalidInput(
            _("Unknown permissions: %(names)s") % {"names": ", ".join(sorted(unknown))}
        )
    if location is not None and partner is not None:
        raise errors.InvalidInput(_("A key belongs to a location or to a partner, not both."))
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=_hash(secret),
        location=location,
        partner=partner,
        permissions=sorted(set(permissions)),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


def api_key_revoke(*, key: ApiKey, actor=None) -> ApiKey:
    """Revoke a key: every later request with it is refused."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """Return the active key for the presented text, or None."""
    if not raw or not raw.startswith(KEY_PREFIX):
        return None
    try:
        prefix, secret = raw[len(KEY_PREFIX) :].split("_", 1)
    except ValueError:
        return None
    key = ApiKey.objects.select_related("location", "partner").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(secret)) or not key.is_active:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        # Written at most once a minute per key, so busy tills do not write on every call.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


@dataclass
class ApiClient:
    """The caller of an API request: stands in for ``request.user``."""

    key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    def __str__(self) -> str:
        return str(self.key)

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticate ``Authorization: Bearer lk_…`` or ``X-Api-Key: lk_…``."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        raw = (
            header[7:].strip()
            if header.lower().startswith("bearer ")
            else request.META.get("HTTP_X_API_KEY", "")
        )
        if not raw:
            return None
        key = api_key_authenticate(raw.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(
                _("The API key is not valid or has been revoked.")
            )
        return ApiClient(key=key), key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "loyalty.api_base.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": _("An API key created in the admin: lk_…"),
        }


class HasApiPermission(BasePermission):
    """Allow the request when the key holds the view's ``required_permission``."""

    message = _("This API key does not have permission for this.")

    def has_permission(self, request, view):
        key = getattr(request, "auth", None)
        if not isinstance(key, ApiKey):
            return False
        needed = getattr(view, "required_permission", None)
        if isinstance(needed, dict):
            needed = needed.get(request.method, needed.get("*"))
        return needed is None or key.has_permission(needed)


class ApiKeyThrottle(SimpleRateThrottle):
    """Limit requests per API key (rate in REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['api_key'])."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        key = getattr(request, "auth", None)
        if isinstance(key, ApiKey):
            return self.cache_format % {"scope": self.scope, "ident": key.pk}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with absurdly deep nesting answered as bad input (400), not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(_("The JSON is nested too deeply.")) from None


class IdCursorPagination(CursorPagination):
    """Keyset pagination, newest first: constant time however long the list."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        # DRF answers a mangled cursor with 404; it is bad input, so 400 like other bad input.
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            message = _("This cursor is not valid; start from the first page.")
            raise exceptions.ValidationError({self.cursor_query_param: [message]}) from None


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def error_body(code: str, detail: str, fields: dict | None = None) -> dict:
    return {"code": code, "detail": detail, "fields": fields or {}}


def validation_fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF validation errors into ``{"field": [messages]}``.

    Errors inside lists and nested objects get dotted names (``lines.0.quantity``), so a
    client reads plain messages instead of the text of Python objects.
    """
    name = prefix or "non_field_errors"
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for key, value in detail.items():
            for field, messages in validation_fields(
                value, f"{prefix}.{key}" if prefix else str(key)
            ).items():
                fields.setdefault(field, []).extend(messages)
        return fields
    if isinstance(detail, list):
        fields = {}
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                # A list of nested results: DRF puts an empty entry for each valid item.
                nested = validation_fields(value, f"{prefix}.{index}" if prefix else str(index))
            else:
                nested = {name: [str(value)]}
            for field, messages in nested.items():
                fields.setdefault(field, []).extend(messages)
        return fields
    return {name: [str(detail)]}


def loyalty_error_response(exc: errors.LoyaltyError) -> Response:
    fields = {exc.field: [exc.detail]} if exc.field else {}
    return Response(error_body(exc.code, exc.detail, fields), status=exc.status)


def exception_handler(exc, context):
    """Turn every error into ``{"code", "detail", "fields"}`` with the right status."""
    # Imported here: rest_framework.views loads the authentication classes of this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, errors.LoyaltyError):
        return loyalty_error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = validation_fields(exc.detail)
        first = next(iter(fields.values()), [""])[0] if fields else ""
        response.data = error_body("invalid", first or _("The input is not valid."), fields)
        return response
    codes = {
        exceptions.NotAuthenticated: "not_authenticated",
        exceptions.AuthenticationFailed: "authentication_failed",
        exceptions.PermissionDenied: "permission_denied",
        exceptions.NotFound: "not_found",
        exceptions.MethodNotAllowed: "method_not_allowed",
        exceptions.UnsupportedMediaType: "unsupported_media_type",
        exceptions.ParseError: "parse_error",
        exceptions.Throttled: "throttled",
        exceptions.NotAcceptable: "not_acceptable",
    }
    code = next((c for cls, c in codes.items() if isinstance(exc, cls)), "error")
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = error_body(code, str(detail))
    return response


# --------------------------------------------------------------------------------------------
# Idempotency
# --------------------------------------------------------------------------------------------


def _request_hash(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str) if request.data else ""
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotent(handler: Callable[[], Response], request) -> Response:
    """Run ``handler`` once per ``Idempotency-Key``; a retry gets the stored first response.

    The record is inserted first and the work done in the same transaction, so concurrent
    retries with one key wait for the first and then return its response. Domain errors
    (4xx) are stored too: retrying a refused request is refused the same way.
    """
    key_text = (request.META.get("HTTP_IDEMPOTENCY_KEY") or "").strip()
    api_key = getattr(request, "auth", None)
    if not key_text or not isinstance(api_key, ApiKey):
        return _run(handler)
    if len(key_text) > 100:
        return Response(
            error_body(
                "invalid", _("The Idempotency-Key header is too long (at most 100 characters).")
            ),
            status=status.HTTP_400_BAD_REQUEST,
        )
    digest = _request_hash(request)
    stale = timezone.now() - IDEMPOTENCY_TTL
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.filter(
                api_key=api_key, key=key_text, created_at__lt=stale
            ).delete()
            record = IdempotencyRecord.objects.create(
                api_key=api_key, key=key_text, request_hash=digest
            )
            response = _run(handler)
            if response.status_code >= 500:
                transaction.set_rollback(True)
                return response
            record.status_code = response.status_code
            record.response = response.data
            record.save(update_fields=["status_code", "response"])
            return response
    except IntegrityError:
        record = IdempotencyRecord.objects.filter(api_key=api_key, key=key_text).first()
        if record is None or record.status_code is None:
            return Response(
                error_body(
                    "idempotency_in_progress",
                    _("A request with this Idempotency-Key is still running."),
                ),
                status=status.HTTP_409_CONFLICT,
            )
    if record.request_hash != digest:
        return Response(
            error_body(
                "idempotency_conflict", _("This Idempotency-Key was used with a different request.")
            ),
            status=status.HTTP_409_CONFLICT,
        )
    replay = Response(record.response, status=record.status_code)
    replay["Idempotent-Replayed"] = "true"
    return replay


def _run(handler: Callable[[], Response]) -> Response:
    """Run a view body; a domain error becomes its 4xx response and writes nothing."""
    try:
        with transaction.atomic():
            return handler()
    except errors.LoyaltyError as exc:
        return loyalty_error_response(exc)
