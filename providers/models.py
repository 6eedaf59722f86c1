import uuid

from django.db import models

from integrations.crypto import EncryptedTextField


class Category(models.TextChoices):
    CALENDAR = "calendar"
    HRIS = "hris"
    ESIGNATURE = "esignature"
    JOB_BOARD = "job_board"
    COMMUNICATION = "communication"
    MESSAGING = "messaging"
    EMAIL = "email"
    CRM = "crm"
    PAYMENT_GATEWAY = "payment_gateway"
    SMS = "sms"
    STORAGE = "storage"
    DATA_SOURCE = "data_source"
    CUSTOM = "custom"


class ProviderStatus(models.TextChoices):
    ACTIVE = "active"
    BETA = "beta"
    DEPRECATED = "deprecated"
    DISABLED = "disabled"


class Audience(models.TextChoices):
    SYSTEM = "system"
    TENANT = "tenant"


class AuthType(models.TextChoices):
    OAUTH2 = "oauth2"
    API_KEY = "api_key"
    BASIC = "basic"
    CUSTOM = "custom"
    NONE = "none"


class Provider(models.Model):
    """A catalog entry: how to talk to one third-party service. Shipped as data in providers/catalog/."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.SlugField(max_length=64, unique=True, help_text="The provider id, e.g. google_calendar.")
    name = models.CharField(max_length=100)
    display_name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=32, choices=Category.choices)
    status = models.CharField(max_length=16, choices=ProviderStatus.choices, default=ProviderStatus.ACTIVE)
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.TENANT)
    capabilities = models.JSONField(default=list, blank=True)
    supported_sync_directions = models.JSONField(default=list, blank=True)
    supports_realtime = models.BooleanField(default=False)
    supports_webhooks = models.BooleanField(default=False)
    supports_notifications = models.BooleanField(default=False)
    supports_search = models.BooleanField(default=False)
    searchable_entities = models.JSONField(default=list, blank=True)
    search_capabilities = models.JSONField(default=dict, blank=True)
    requires_user_scoping = models.BooleanField(default=False)
    auth_type = models.CharField(max_length=16, choices=AuthType.choices)
    # URLs, scopes, PKCE, extra params, clientIdEnv/clientSecretEnv or clientId; never the client secret.
    oauth_config = models.JSONField(null=True, blank=True)
    oauth_client_secret = EncryptedTextField(blank=True, default="")
    api_key_placement = models.JSONField(null=True, blank=True)
    credential_schema = models.JSONField(null=True, blank=True)
    config_schema = models.JSONField(null=True, blank=True)
    health_check = models.JSONField(null=True, blank=True)
    api_base_url = models.CharField(max_length=500, blank=True)
    inbound_signature_scheme = models.CharField(max_length=32, blank=True)
    docs_url = models.URLField(max_length=500, blank=True)
    available_entities = models.JSONField(default=list, blank=True)
    entity_mappings = models.JSONField(default=list, blank=True)
    icon = models.CharField(max_length=100, blank=True)
    color = models.CharField(max_length=20, blank=True)
    version = models.CharField(
        max_length=64, default="1.0.0", help_text="Any non-empty label, e.g. 1, 2.3.0, v2024-06."
    )
    is_premium = models.BooleanField(default=False)
    required_plan = models.CharField(max_length=50, blank=True)
    notes = models.TextField(blank=True)
    # {"requestsPerMinute": int | null, "maxWaitSeconds": int | null}: the budget per connection (providers.budget).
    rate_limit = models.JSONField(null=True, blank=True)
    # Fields a super admin changed by hand; sync_providers leaves them alone.
    locked_fields = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        indexes = [
            models.Index(fields=["category"], name="provider_category_idx"),
            models.Index(fields=["status", "audience"], name="provider_status_audience_idx"),
        ]

    def __str__(self) -> str:
        return self.key
