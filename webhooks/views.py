"""Outbound webhook API (api.md "Outbound webhooks"): thin viewsets, validate -> one service/selector -> serialize."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Permission
from accounts.permissions import HasTenantPermission, IsSuperAdmin
from config.api import RateLimitFirstMixin, page_body, parse_page_params, sort_queryset
from tenants.scoping import UUID_PATTERN, TenantScopedViewSetMixin, request_tenant
from webhooks import event_types, recovery, selectors, services
from webhooks.models import Webhook
from webhooks.serializers import (
    DeliveryLogSerializer,
    EventTypeSerializer,
    EventTypeUpdateSerializer,
    EventTypeWriteSerializer,
    RecoverPreviewSerializer,
    RecoverSerializer,
    RecoverStartedSerializer,
    RecoverySerializer,
    ReplayResultSerializer,
    ReplaySerializer,
    RotateSecretSerializer,
    TriggerResultSerializer,
    TriggerSerializer,
    WebhookSerializer,
    WebhookStatsSerializer,
    WebhookTestResultSerializer,
    WebhookUpdateSerializer,
    WebhookWithSecretSerializer,
    WebhookWriteSerializer,
)

_SORTS = {"name": "name", "createdAt": "created_at", "updatedAt": "updated_at", "status": "status"}

_LIST_PARAMS = [
    OpenApiParameter("status", str, enum=["active", "inactive", "disabled"]),
    OpenApiParameter("integrationId", OpenApiTypes.UUID),
    OpenApiParameter("event", str, description="Subscriptions that receive this event (or pattern)."),
    OpenApiParameter("sortBy", str, enum=list(_SORTS)),
    OpenApiParameter("sortOrder", str, enum=["asc", "desc"]),
]
_LOG_PARAMS = [
    OpenApiParameter("status", str, enum=["pending", "success", "failed"]),
    OpenApiParameter("event", str),
]


class WebhookViewSet(TenantScopedViewSetMixin, viewsets.GenericViewSet):
    """Subscriptions of the caller's tenant, their deliveries, stats, secret rotation, retries and replays."""

    queryset = Webhook.objects.all()
    serializer_class = WebhookSerializer
    not_found_code = "WEBHOOK_NOT_FOUND"
    not_found_message = "Webhook not found."
    rate_limit_group = "webhooks"
    required_permissions = {
        "test": Permission.CREATE,
        "logs": Permission.READ,
        "stats": Permission.READ,
        "rotate_secret": Permission.UPDATE,
        "retry_delivery": Permission.UPDATE,
        "replay": Permission.UPDATE,
        "recover": Permission.UPDATE,
        "recovery_status": Permission.READ,
    }

    @extend_schema(parameters=_LIST_PARAMS, responses=WebhookSerializer(many=True))
    def list(self, request):
        params = request.query_params
        filters = {
            "status": params.get("status"),
            "integration_id": params.get("integrationId") or params.get("integration_id"),
            "event": params.get("event"),
        }
        qs = selectors.webhook_list(tenant=self.tenant, filters=filters)
        qs = sort_queryset(qs, params, allowed=_SORTS, default="-created_at")
        page = selectors.webhooks_attach_public_keys(list(self.paginate_queryset(qs)))
        return self.get_paginated_response(WebhookSerializer(page, many=True).data)

    @extend_schema(request=WebhookWriteSerializer, responses={201: WebhookWithSecretSerializer})
    def create(self, request):
        body = WebhookWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        webhook, secret = services.webhook_create(tenant=self.tenant, actor=request.user, **body.validated_data)
        data = WebhookWithSecretSerializer(webhook, context={"secret": secret}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=WebhookSerializer)
    def retrieve(self, request, pk=None):
        return Response(WebhookSerializer(self.get_object()).data)

    @extend_schema(request=WebhookUpdateSerializer, responses=WebhookSerializer)
    def update(self, request, pk=None):
        webhook = self.get_object()
        body = WebhookUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        webhook = services.webhook_update(webhook=webhook, data=body.validated_data, actor=request.user)
        return Response(WebhookSerializer(webhook).data)

    @extend_schema(request=WebhookUpdateSerializer, responses=WebhookSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.webhook_delete(webhook=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=WebhookTestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        result = services.webhook_test(webhook=self.get_object(), actor=request.user)
        return Response(result)

    @extend_schema(parameters=_LOG_PARAMS, responses=DeliveryLogSerializer(many=True))
    @action(detail=True, methods=["get"])
    def logs(self, request, pk=None):
        webhook = self.get_object()
        filters = {"status": request.query_params.get("status"), "event": request.query_params.get("event")}
        qs = selectors.delivery_list(webhook=webhook, filters=filters)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(DeliveryLogSerializer(page, many=True).data)

    @extend_schema(responses=WebhookStatsSerializer)
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        return Response(selectors.webhook_stats(webhook=self.get_object()))

    @extend_schema(request=RotateSecretSerializer, responses=WebhookWithSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        webhook = self.get_object()
        body = RotateSecretSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        secret = services.webhook_rotate_secret(
            webhook=webhook, secret=body.validated_data.get("secret") or None, actor=request.user
        )
        webhook.refresh_from_db()
        return Response(WebhookWithSecretSerializer(webhook, context={"secret": secret}).data)

    @extend_schema(request=None, responses={202: DeliveryLogSerializer})
    @action(detail=True, methods=["post"], url_path=rf"deliveries/(?P<delivery_id>{UUID_PATTERN})/retry")
    def retry_delivery(self, request, pk=None, delivery_id=None):
        webhook = self.get_object()
        delivery = services.delivery_retry(webhook=webhook, delivery_id=delivery_id, actor=request.user)
        delivery = selectors.delivery_get(webhook=webhook, delivery_id=delivery.pk)
        return Response(DeliveryLogSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ReplaySerializer, responses={202: ReplayResultSerializer})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        webhook = self.get_object()
        body = ReplaySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = services.webhook_replay(webhook=webhook, actor=request.user, **body.validated_data)
        result = {
            "success": True,
            "message": f"{len(ids)} deliveries queued again." if ids else "No delivery matched.",
            "replayed": len(ids),
            "delivery_ids": ids,
        }
        return Response(result, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=RecoverSerializer,
        responses={200: RecoverPreviewSerializer, 202: RecoverStartedSerializer},
        description=(
            "Re-send the subscription's failed and exhausted deliveries created in [since, until) (at most "
            "WEBHOOK_RECOVER_MAX_DAYS days, not in the future). dryRun: 200 with counts and a sample, nothing sent. "
            "Otherwise 202 with a jobId; the job runs in the background (GET …/recoveries/{jobId}). Each delivery "
            "keeps its webhook-id."
        ),
    )
    @action(detail=True, methods=["post"])
    def recover(self, request, pk=None):
        webhook = self.get_object()
        body = RecoverSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        window = {"since": body.validated_data["since"], "until": body.validated_data.get("until")}
        if body.validated_data["dry_run"]:
            return Response(recovery.webhook_recover_preview(webhook=webhook, **window))
        job = recovery.webhook_recover_start(webhook=webhook, actor=request.user, **window)
        return Response({"job_id": job.pk}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=RecoverySerializer)
    @action(detail=True, methods=["get"], url_path=rf"recoveries/(?P<job_id>{UUID_PATTERN})")
    def recovery_status(self, request, pk=None, job_id=None):
        job = recovery.recovery_get(webhook=self.get_object(), job_id=job_id)
        return Response(RecoverySerializer(job).data)


class WebhookTriggerView(RateLimitFirstMixin, APIView):
    """Seed 000's internal trigger: record an event for the caller's tenant and deliver it to its subscribers."""

    permission_classes = [HasTenantPermission]  # POST: integrations:create
    rate_limit_group = "webhooks"

    @extend_schema(request=TriggerSerializer, responses=TriggerResultSerializer)
    def post(self, request):
        body = TriggerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = body.validated_data.get("idempotency_key") or request.headers.get("Idempotency-Key") or None
        event = services.trigger(
            request_tenant(request), body.validated_data["event"], body.validated_data["data"], idempotency_key=key
        )
        result = {
            "success": True,
            "message": "Webhook triggered successfully" if event.created else "Event already triggered (idempotent).",
            "event_id": event.pk,
            "deliveries": len(event.delivery_ids),
        }
        return Response(result)


class WebhookEventCatalogView(RateLimitFirstMixin, APIView):
    """The event types a subscription may ask for, each with the JSON Schema of its data and an example."""

    permission_classes = [HasTenantPermission]
    rate_limit_group = "webhooks"

    @extend_schema(
        parameters=[
            OpenApiParameter("group", str, description="Only this group's types (e.g. application, webhook)."),
            OpenApiParameter("category", str, description="The older name of group."),
        ],
        responses=inline_serializer(
            "WebhookEventCatalogPage",
            {
                "items": EventTypeSerializer(many=True),
                "total": serializers.IntegerField(),
                "limit": serializers.IntegerField(),
                "offset": serializers.IntegerField(),
                "hasMore": serializers.BooleanField(),
                "nextOffset": serializers.IntegerField(allow_null=True),
            },
        ),
        description="The AsyncAPI 3 document of the same catalog: GET /api/v1/integrations/webhooks/asyncapi.json.",
        external_docs={
            "description": "The event catalog as an AsyncAPI 3.0 document",
            "url": "/api/v1/integrations/webhooks/asyncapi.json",
        },
    )
    def get(self, request):
        limit, offset = parse_page_params(request.query_params)
        group = request.query_params.get("group") or request.query_params.get("category")
        qs = event_types.event_type_list(group=group)
        if group and not qs.exists():
            raise serializers.ValidationError({"group": ["No event type has this group."]})
        total = qs.count()
        items = EventTypeSerializer(qs[offset : offset + limit], many=True).data
        return Response(page_body(items, total=total, limit=limit, offset=offset))


class WebhookAsyncAPIView(RateLimitFirstMixin, APIView):
    """The event catalog as an AsyncAPI 3.0.0 document (for code generators and docs tools)."""

    permission_classes = [HasTenantPermission]
    rate_limit_group = "webhooks"
    renderer_classes = [JSONRenderer]  # the document's own keys, never camel-cased

    @extend_schema(
        operation_id="webhooks_asyncapi_document",
        responses={200: OpenApiTypes.OBJECT},
        description="An AsyncAPI 3.0.0 document: one channel, message and receive operation per event type.",
    )
    def get(self, request):
        return Response(event_types.asyncapi_document())


class AdminEventTypeViewSet(RateLimitFirstMixin, viewsets.GenericViewSet):
    """Super admins: the platform-wide event type catalog (names contain dots: ``/event-types/offer.sent``)."""

    permission_classes = [IsSuperAdmin]
    serializer_class = EventTypeSerializer
    rate_limit_group = "webhooks"

    def get_queryset(self):
        return event_types.event_type_list()

    @extend_schema(parameters=[OpenApiParameter("group", str)], responses=EventTypeSerializer(many=True))
    def list(self, request):
        page = self.paginate_queryset(event_types.event_type_list(group=request.query_params.get("group")))
        return self.get_paginated_response(EventTypeSerializer(page, many=True).data)

    @extend_schema(request=EventTypeWriteSerializer, responses={201: EventTypeSerializer})
    def create(self, request):
        body = EventTypeWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = event_types.event_type_create(**body.validated_data)
        return Response(EventTypeSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=EventTypeSerializer)
    def retrieve(self, request, name=None):
        return Response(EventTypeSerializer(event_types.event_type_get(name=name)).data)

    @extend_schema(request=EventTypeUpdateSerializer, responses=EventTypeSerializer)
    def partial_update(self, request, name=None):
        row = event_types.event_type_get(name=name)
        body = EventTypeUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        row = event_types.event_type_update(event_type=row, data=body.validated_data)
        return Response(EventTypeSerializer(row).data)
