"""Inbound webhooks API: endpoint CRUD, secret rotation, received events and replay; and the public receiver."""

import logging
import time

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Permission
from config.api import GroupRateThrottle, client_ip, hit_rate_limit, peek_rate_limit, sort_queryset
from config.errors import NotFound
from config.schema import ErrorResponseSerializer
from tenants.scoping import UUID_PATTERN, TenantScopedViewSetMixin
from webhooks import inbound as services
from webhooks.inbound_serializers import (
    InboundEndpointCreatedSerializer,
    InboundEndpointSerializer,
    InboundEndpointWriteSerializer,
    InboundEventDetailSerializer,
    InboundEventSerializer,
    InboundRotateSecretSerializer,
    InboundSecretSerializer,
    ReceiveResponseSerializer,
)
from webhooks.models.inbound import InboundEndpoint, InboundEvent, InboundEventStatus

logger = logging.getLogger(__name__)

_BOOL = {"true": True, "1": True, "false": False, "0": False}


def _bool_param(params, name: str) -> bool | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() not in _BOOL:
        raise exceptions.ValidationError({name: ["Must be true or false."]})
    return _BOOL[raw.lower()]


def _uuid_param(params, *names: str):
    import uuid

    for name in names:
        raw = params.get(name)
        if raw not in (None, ""):
            try:
                return uuid.UUID(raw)
            except ValueError:
                raise exceptions.ValidationError({names[0]: ["Must be a UUID."]})
    return None


@extend_schema_view(
    list=extend_schema(
        summary="List inbound webhook endpoints",
        parameters=[
            OpenApiParameter("integrationId", OpenApiTypes.UUID),
            OpenApiParameter("active", OpenApiTypes.BOOL),
            OpenApiParameter("sortBy", OpenApiTypes.STR, enum=["createdAt", "updatedAt", "name"]),
            OpenApiParameter("sortOrder", OpenApiTypes.STR, enum=["asc", "desc"]),
        ],
    ),
    retrieve=extend_schema(summary="Get an inbound webhook endpoint"),
    destroy=extend_schema(summary="Delete an inbound webhook endpoint and its received events"),
)
class InboundEndpointViewSet(
    TenantScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = InboundEndpoint.objects.all()
    serializer_class = InboundEndpointSerializer
    not_found_code = "INBOUND_WEBHOOK_NOT_FOUND"
    not_found_message = "Inbound webhook endpoint not found."
    rate_limit_group = "webhooks"
    filter_backends = []
    required_permissions = {
        "rotate_secret": Permission.UPDATE,
        "replay": Permission.UPDATE,
    }

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action != "list":
            return qs
        params = self.request.query_params
        integration_id = _uuid_param(params, "integrationId", "integration_id")
        if integration_id is not None:
            qs = qs.filter(integration_id=integration_id)
        active = _bool_param(params, "active")
        if active is not None:
            qs = qs.filter(active=active)
        return sort_queryset(
            qs,
            params,
            allowed={"createdAt": "created_at", "updatedAt": "updated_at", "name": "name"},
            default="-created_at",
        )

    def _write(self, *, partial_create: bool, endpoint=None):
        serializer = InboundEndpointWriteSerializer(
            data=self.request.data,
            partial=not partial_create,
            context={"tenant": self.tenant, "endpoint": endpoint},
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(
        summary="Create an inbound webhook endpoint",
        request=InboundEndpointWriteSerializer,
        responses={201: InboundEndpointCreatedSerializer},
        description="`path` and `secret` are generated when absent; a generated secret is returned in this answer "
        "only (`secret`), never again. A secret you send is never returned.",
    )
    def create(self, request):
        data = self._write(partial_create=True)
        endpoint, generated = services.inbound_endpoint_create(tenant=self.tenant, **data)
        body = InboundEndpointCreatedSerializer(endpoint, context={"generated_secret": generated}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Update an inbound webhook endpoint (every field optional)",
        request=InboundEndpointWriteSerializer,
        responses=InboundEndpointSerializer,
    )
    def update(self, request, pk=None):
        endpoint = self.get_object()
        endpoint = services.inbound_endpoint_update(
            endpoint=endpoint, data=self._write(partial_create=False, endpoint=endpoint)
        )
        return Response(InboundEndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Update an inbound webhook endpoint",
        request=InboundEndpointWriteSerializer,
        responses=InboundEndpointSerializer,
    )
    def partial_update(self, request, pk=None):
        return self.update(request, pk)

    def destroy(self, request, pk=None):
        services.inbound_endpoint_delete(endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Rotate the endpoint's secret",
        request=InboundRotateSecretSerializer,
        responses=InboundSecretSerializer,
        description="The new secret is shown in this answer only. The replaced one still verifies for "
        "`graceSeconds` (default INBOUND_SECRET_GRACE_SECONDS, 24 h), time to update the provider.",
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint = self.get_object()
        serializer = InboundRotateSecretSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        secret = services.inbound_endpoint_rotate_secret(
            endpoint=endpoint, grace_seconds=serializer.validated_data.get("grace_seconds")
        )
        endpoint.refresh_from_db()
        expires = InboundEndpointSerializer(endpoint).data["previous_secret_expires_at"]
        return Response({"secret": secret, "previous_secret_expires_at": expires})

    @extend_schema(
        summary="Received events of the endpoint",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=InboundEventStatus.values),
            OpenApiParameter("eventType", OpenApiTypes.STR),
            OpenApiParameter("sortBy", OpenApiTypes.STR, enum=["receivedAt", "processedAt"]),
            OpenApiParameter("sortOrder", OpenApiTypes.STR, enum=["asc", "desc"]),
        ],
        responses=InboundEventSerializer(many=True),
    )
    @action(detail=True, methods=["get"], url_path="events")
    def events(self, request, pk=None):
        endpoint = self.get_object()
        params = request.query_params
        qs = InboundEvent.objects.filter(endpoint=endpoint).defer("body")
        event_status = params.get("status")
        if event_status:
            if event_status not in InboundEventStatus.values:
                raise exceptions.ValidationError(
                    {"status": [f"Must be one of: {', '.join(InboundEventStatus.values)}."]}
                )
            qs = qs.filter(status=event_status)
        event_type = params.get("eventType") or params.get("event_type")
        if event_type:
            qs = qs.filter(event_type=event_type[:200])
        qs = sort_queryset(
            qs, params, allowed={"receivedAt": "received_at", "processedAt": "processed_at"}, default="-received_at"
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(InboundEventSerializer(page, many=True).data)

    def _event(self, pk, event_id) -> InboundEvent:
        endpoint = self.get_object()
        event = InboundEvent.objects.filter(endpoint=endpoint, pk=event_id).first()
        if event is None:
            raise NotFound("inbound_event")
        return event

    @extend_schema(summary="One received event, with its raw body", responses=InboundEventDetailSerializer)
    @action(detail=True, methods=["get"], url_path=rf"events/(?P<event_id>{UUID_PATTERN})")
    def event_detail(self, request, pk=None, event_id=None):
        return Response(InboundEventDetailSerializer(self._event(pk, event_id)).data)

    @extend_schema(
        summary="Process a received event again",
        request=None,
        responses={202: InboundEventSerializer},
        description="The event goes back to `pending` and is processed by a worker; its handler runs again.",
    )
    @action(detail=True, methods=["post"], url_path=rf"events/(?P<event_id>{UUID_PATTERN})/replay")
    def replay(self, request, pk=None, event_id=None):
        event = services.inbound_event_replay(event=self._event(pk, event_id), actor=request.user)
        return Response(InboundEventSerializer(event).data, status=status.HTTP_202_ACCEPTED)


class ReceiverRateThrottle(GroupRateThrottle):
    """The receiver's budgets that a request spends before anything is known of it: the sender's.

    RATE_LIMIT_WEBHOOK_RECEIVER per (path, sender address) and RATE_LIMIT_WEBHOOK_RECEIVER_ADDRESS per sender address
    across all paths. Junk from one sender therefore exhausts that sender's budgets only; the per-path ceiling
    (RATE_LIMIT_WEBHOOK_RECEIVER_PATH) is spent by verified requests alone, in the view. The sender is
    config.api.client_ip: X-Forwarded-For counts only from TRUSTED_PROXIES, so a made-up header moves no budget.
    """

    def allow_request(self, request, view):
        if not settings.RATE_LIMIT_ENABLED:
            return True
        address = client_ip(request)
        path = str(view.kwargs.get("path", ""))[:100]
        per_path = hit_rate_limit("webhook_receiver", f"path:{path}:ip:{address}")
        overall = hit_rate_limit("webhook_receiver_address", f"ip:{address}")
        request._request.rate_limit = overall if overall.exceeded and not per_path.exceeded else per_path
        exceeded = [rate for rate in (per_path, overall) if rate.exceeded]
        if exceeded:
            self.wait_seconds = max(1, max(rate.reset for rate in exceeded) - int(time.time()))
            return False
        return True


def _path_ceiling_reached(endpoint) -> int | None:
    """Seconds to wait when the endpoint's verified requests have used RATE_LIMIT_WEBHOOK_RECEIVER_PATH, else None."""
    if not settings.RATE_LIMIT_ENABLED:
        return None
    rate = peek_rate_limit("webhook_receiver_path", f"endpoint:{endpoint.pk}")
    return max(1, rate.reset - int(time.time())) if rate.count >= rate.limit else None


def _charge_path_ceiling(endpoint) -> None:
    if settings.RATE_LIMIT_ENABLED:
        hit_rate_limit("webhook_receiver_path", f"endpoint:{endpoint.pk}")


_REJECTED_DESCRIPTION = (
    "Unknown or inactive endpoint, missing or invalid signature, timestamp outside the tolerance: one answer for all, "
    "so that it tells nothing about which paths exist. The endpoint's tenant reads the reason in its "
    "`rejectedCount`, `lastRejectedAt` and `lastRejectedReason`."
)


class InboundReceiveView(APIView):
    """`POST /api/v1/webhooks/receive/{path}`: public. Verify the signature on the raw bytes, store, answer at once.

    No parser touches the body: it is read here, as bytes, up to INBOUND_MAX_BODY_BYTES. The sender's budgets are
    counted before the body is read (ReceiverRateThrottle); the endpoint's ceiling after the signature verified.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = []
    throttle_classes = [ReceiverRateThrottle]
    rate_limit_group = "webhook_receiver"
    not_found_code = "WEBHOOK_REJECTED"
    not_found_message = services.WebhookRejected.default_message

    @extend_schema(
        summary="Receive a webhook from a provider (public)",
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-www-form-urlencoded": OpenApiTypes.OBJECT,
            "*/*": OpenApiTypes.BINARY,
        },
        responses={
            200: ReceiveResponseSerializer,
            401: OpenApiResponse(ErrorResponseSerializer, description=_REJECTED_DESCRIPTION),
            413: OpenApiResponse(ErrorResponseSerializer, description="Body over INBOUND_MAX_BODY_BYTES."),
            429: OpenApiResponse(ErrorResponseSerializer, description="A rate limit of the receiver was reached."),
        },
        auth=[],
    )
    def post(self, request, path: str):
        limit = settings.INBOUND_MAX_BODY_BYTES
        django_request = request._request
        source_ip = client_ip(django_request) or None
        try:
            declared = int(django_request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise exceptions.ValidationError({"Content-Length": ["Must be an integer."]})
        if declared > limit:
            raise services.PayloadTooLarge(f"The body exceeds the limit of {limit} bytes.")
        # Read before the lookup: a known and an unknown path answer an oversized body alike.
        body = django_request.read(limit + 1)
        if len(body) > limit:
            raise services.PayloadTooLarge(f"The body exceeds the limit of {limit} bytes.")
        endpoint = services.inbound_endpoint_for_path(path, source_ip=source_ip)
        wait = _path_ceiling_reached(endpoint)
        if wait is not None:
            raise exceptions.Throttled(wait=wait)
        query = django_request.META.get("QUERY_STRING", "")
        result = services.inbound_receive(
            endpoint=endpoint,
            request=services.ReceivedRequest(
                body=body,
                headers=dict(django_request.headers),
                url=services.public_url(django_request.path, query),
                source_ip=source_ip,
                content_type=django_request.META.get("CONTENT_TYPE", ""),
            ),
        )
        _charge_path_ceiling(endpoint)
        if result.challenge is not None:
            return Response({"challenge": result.challenge})
        return Response({"status": "success", "event_id": str(result.event_id)})
