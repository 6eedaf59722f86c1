"""Settings: one module, every value from the environment (see .env.example for each variable and its default).

Two modes, no code change between them:
- embedded (no DATABASE_URL / REDIS_URL): SQLite, kombu's filesystem broker and a file cache under var/,
  shared by the web, worker and beat processes of one machine;
- production (DATABASE_URL and REDIS_URL set): PostgreSQL, and Redis for the broker, the cache, rate-limit
  counters and locks.
With DEBUG off, SECRET_KEY, ENCRYPTION_KEYS and JWT_SIGNING_KEY must be given or start-up stops with
ImproperlyConfigured.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _required_secret(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. It is required when DEBUG is off; see .env.example for how to generate one."
    )


def _dev_encryption_key() -> str:
    """A per-checkout development key in var/, made once (O_EXCL, so concurrent processes agree on one key)."""
    from cryptography.fernet import Fernet

    path = VAR_DIR / "dev-encryption.key"
    try:
        with open(path, "x") as fh:
            fh.write(Fernet.generate_key().decode())
    except FileExistsError:
        pass
    return path.read_text().strip()


SECRET_KEY = _required_secret("SECRET_KEY", "dev-insecure-secret-key-do-not-use-in-production")
# Comma-separated Fernet keys, newest first. Seed 001's single ENCRYPTION_KEY is accepted too.
ENCRYPTION_KEYS = [k.strip() for k in env.str("ENCRYPTION_KEYS", default="").split(",") if k.strip()]
if not ENCRYPTION_KEYS and env.str("ENCRYPTION_KEY", default=""):
    ENCRYPTION_KEYS = [env.str("ENCRYPTION_KEY")]
if not ENCRYPTION_KEYS:
    ENCRYPTION_KEYS = [_required_secret("ENCRYPTION_KEYS", "") or _dev_encryption_key()]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "console.apps.ConsoleAdminConfig",  # django.contrib.admin with the console's site (dashboard index)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc assets served by the app (the docs work offline)
    "django_celery_beat",
    "axes",
    "rest_framework_simplejwt.token_blacklist",
    "config.apps.ProjectConfig",
    "accounts",
    "tenants",
    "providers",
    "integrations",
    "webhooks",
    "console",
    "django_htmx",
    "portal",
]

MIDDLEWARE = [
    "config.api.RequestIdMiddleware",
    "config.input_limits.RejectNulMiddleware",  # issue 9: NUL in a path or query parameter is a 400
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # the admin login's lockout answer (accounts.lockout.lockout_response)
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- Services: embedded default or production --------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
# Tests that need PostgreSQL/Redis are skipped when these are absent, and fail instead under REQUIRE_SERVICES=1.
REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)

if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # Several local processes write to one file: wait for the lock instead of failing at once.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "if",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve admin and Swagger assets without a collectstatic step

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Deployment: TLS, cookies, proxies (docs/security.md) -----------------------------------------------------------
# Believe `<header>: https` as "the request came over TLS" only when the operator says a proxy sets that header (and
# strips it from clients), e.g. SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto. Empty: never (a client could send it).
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="").strip()
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
_public_https = PUBLIC_BASE_URL.startswith("https://")
# Secure session/CSRF cookies (Django admin) and HSTS follow PUBLIC_BASE_URL's scheme unless set.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_public_https)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _public_https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)

# --- API ---------------------------------------------------------------------------------------------------------
# Keys inside these fields are the caller's own data: camelCase conversion leaves them as they were sent.
CAMELCASE_OPAQUE_FIELDS = (
    "config",
    "settings",
    "credentials",
    "payload",
    "data",
    "headers",
    "details",
    "snapshot",
    "oauth_config",
    "oauthConfig",
    "credential_schema",
    "credentialSchema",
    "config_schema",
    "configSchema",
    "extra_authorization_params",
    "extraAuthorizationParams",
    "request_headers",
    "requestHeaders",
    "configuration",
    "byEntity",  # search: keys are provider entity names (payment_intent)
    "customFilters",  # search: provider-specific filter names (timeMin)
    "custom_filters",
    "filter",  # outbound webhook filters: dotted paths inside the event's data
    "schema",  # event types: a JSON Schema ($schema, additionalProperties)
    "example",  # event types: an example data object
)
JSON_CAMEL_CASE = {"JSON_UNDERSCOREIZE": {"ignore_fields": CAMELCASE_OPAQUE_FIELDS}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.TenantJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["config.api.CamelCaseJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.input_limits.JSONParser"],  # body size, depth and NUL limits (issue 9)
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "DEFAULT_THROTTLE_CLASSES": ["config.api.GroupRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_METADATA_CLASS": "config.api.Metadata",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "PAGE_SIZE": 50,
}

# JWTs are signed with a key of their own (not SECRET_KEY), required when DEBUG is off like SECRET_KEY.
JWT_SIGNING_KEY = _required_secret("JWT_SIGNING_KEY", "dev-insecure-jwt-signing-key-do-not-use-in-production")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
    # Refresh rotation: each refresh returns a new refresh token and blacklists the one spent (token_blacklist app).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Integration Framework API",
    "DESCRIPTION": "Manage third-party integrations, connections, outbound and inbound webhooks and health checks.",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.0.3",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "CAMELIZE_NAMES": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.contrib.djangorestframework_camel_case.camelize_serializer_fields",
        "drf_spectacular.hooks.postprocess_schema_enums",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ProviderStatusEnum": "providers.models.ProviderStatus",
        "IntegrationStatusEnum": "integrations.models.integration.IntegrationStatus",
        "HealthStatusEnum": "integrations.models.integration.HealthStatus",
        "ActivityStatusEnum": "integrations.models.activity.ActivityStatus",
        "ConnectionStatusEnum": "integrations.models.connection.ConnectionStatus",
        "IntegrationStatusChangeEnum": ["active", "inactive"],
        "InboundEventStatusEnum": "webhooks.models.inbound.InboundEventStatus",
        "WebhookStatusEnum": "webhooks.models.outbound.WebhookStatus",
        "DeliveryStatusEnum": "webhooks.models.outbound.DeliveryStatus",
        "CircuitStateEnum": "webhooks.models.outbound.CircuitState",
        # outbound webhook options (signature scheme, payload format, recovery jobs)
        "OutboundSignatureSchemeEnum": "webhooks.models.outbound.OutboundSignatureScheme",
        "InboundSignatureSchemeEnum": "webhooks.models.inbound.SignatureScheme",
        "PayloadFormatEnum": "webhooks.models.outbound.PayloadFormat",
        "RecoveryStatusEnum": "webhooks.models.outbound.RecoveryStatus",
    },
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # API docs: Swagger UI and ReDoc from the pinned drf-spectacular-sidecar package, never from a CDN; no call to
    # the online spec validator either.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Client identity and the failed-login limit (docs/security.md) ---------------------------------------------
# CIDRs of the reverse proxies in front of this service. X-Forwarded-For is read only when the TCP peer is one of
# them (then the right-most address that is not a listed proxy is the client). Empty: REMOTE_ADDR, nothing else.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _cidr in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_cidr.strip(), strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_cidr!r} is not an address or CIDR network.") from _exc
# One email may fail to sign in this many times (whatever the address) within the window of seconds since its last
# failure; then the token endpoint and the admin login refuse it (429, the right password too) until the window
# has passed. 0 turns the limit off. Counters: django-axes' database handler (shared by every process).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = LOGIN_FAILURE_LIMIT > 0
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = max(1, LOGIN_FAILURE_LIMIT)
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_FAILURE_WINDOW_SECONDS)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "accounts.lockout.login_username"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.login_client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# axes.W006 asks for per-address lockouts too; the per-address budget is RATE_LIMIT_AUTH (a lockout per address
# would lock out a whole office behind one NAT after ten typos).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# Rate limits per user (or client address) and endpoint group, "<count>/<second|minute|hour>".
RATE_LIMIT_ENABLED = env.bool("RATE_LIMIT_ENABLED", default=True)
RATE_LIMITS = {
    "auth": env.str("RATE_LIMIT_AUTH", default="30/minute"),
    "default": env.str("RATE_LIMIT_DEFAULT", default="200/minute"),
    "providers": env.str("RATE_LIMIT_PROVIDERS", default="100/minute"),
    "integrations": env.str("RATE_LIMIT_INTEGRATIONS", default="200/minute"),
    "connections": env.str("RATE_LIMIT_CONNECTIONS", default="50/minute"),
    "search": env.str("RATE_LIMIT_SEARCH", default="30/minute"),
    "widgets": env.str("RATE_LIMIT_WIDGETS", default="100/minute"),
    "webhooks": env.str("RATE_LIMIT_WEBHOOKS", default="200/minute"),
    "webhook_receiver": env.str("RATE_LIMIT_WEBHOOK_RECEIVER", default="600/minute"),
}
# Inbound receiver (issue 9): RATE_LIMIT_WEBHOOK_RECEIVER above counts per (path, sender address); a path's verified
# requests share a larger ceiling, and one sender address has a budget across all paths. Both default to ten times
# the per-(path, address) rate.
_receiver_count, _, _receiver_period = RATE_LIMITS["webhook_receiver"].partition("/")
_receiver_tenfold = f"{int(_receiver_count) * 10}/{_receiver_period}"
RATE_LIMITS["webhook_receiver_path"] = env.str("RATE_LIMIT_WEBHOOK_RECEIVER_PATH", default=_receiver_tenfold)
RATE_LIMITS["webhook_receiver_address"] = env.str("RATE_LIMIT_WEBHOOK_RECEIVER_ADDRESS", default=_receiver_tenfold)

# Activity log entries older than this many days are deleted by a daily task.
ACTIVITY_LOG_RETENTION_DAYS = env.int("ACTIVITY_LOG_RETENTION_DAYS", default=90)

# --- Outbound calls and webhooks ---------------------------------------------------------------------------------
# CIDRs that webhook destinations may resolve to although private/loopback. Empty in production.
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"] if DEBUG else [])
# Outbound delivery: retries 1 s, 2 s, 4 s … (x base, ±20 % jitter); a delay (Retry-After included) is capped.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=1.0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env.float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", default=3600.0)
WEBHOOK_MAX_RETRY_ATTEMPTS = env.int("WEBHOOK_MAX_RETRY_ATTEMPTS", default=10)  # upper bound of retryAttempts
# A subscription whose attempts all fail for this span, with at least this many failures, is disabled.
WEBHOOK_DISABLE_AFTER_HOURS = env.float("WEBHOOK_DISABLE_AFTER_HOURS", default=24.0)
WEBHOOK_DISABLE_MIN_FAILURES = env.int("WEBHOOK_DISABLE_MIN_FAILURES", default=10)
# After rotate-secret the previous secret keeps signing beside the new one for this long.
WEBHOOK_SECRET_OVERLAP_HOURS = env.float("WEBHOOK_SECRET_OVERLAP_HOURS", default=24.0)
# A worker's lease on a delivery it sends (extended to the subscription's timeout + 5 s when that is longer).
WEBHOOK_LEASE_SECONDS = env.float("WEBHOOK_LEASE_SECONDS", default=60.0)
# The sweeper (every 30 s) re-enqueues pending deliveries due for longer than this and held by no worker.
WEBHOOK_SWEEP_GRACE_SECONDS = env.float("WEBHOOK_SWEEP_GRACE_SECONDS", default=60.0)
WEBHOOK_SWEEP_BATCH = env.int("WEBHOOK_SWEEP_BATCH", default=2000)
WEBHOOK_RESPONSE_BODY_LIMIT = env.int("WEBHOOK_RESPONSE_BODY_LIMIT", default=4096)  # bytes of a response kept
WEBHOOK_REPLAY_MAX = env.int("WEBHOOK_REPLAY_MAX", default=10000)  # deliveries one replay call re-sends
# Webhook recovery (POST …/webhooks/{id}/recover): the widest window one recovery may cover, in days.
WEBHOOK_RECOVER_MAX_DAYS = env.int("WEBHOOK_RECOVER_MAX_DAYS", default=14)
# A trigger's fan-out travels in tasks of this many deliveries, sent concurrently by this many threads per worker.
WEBHOOK_FANOUT_CHUNK = env.int("WEBHOOK_FANOUT_CHUNK", default=100)
WEBHOOK_SEND_THREADS = env.int("WEBHOOK_SEND_THREADS", default=16)
# Delivery bookkeeping commits without waiting for the WAL flush (PostgreSQL; a DB crash may re-send, same webhook-id).
WEBHOOK_ASYNC_COMMIT = env.bool("WEBHOOK_ASYNC_COMMIT", default=True)
# Operational events and flow control (webhooks.flow): webhook.delivery.failing after this many failed attempts in
# a row; the circuit breaker opens after this many consecutive failures, or when at least MIN_ATTEMPTS attempts in a
# WINDOW failed at FAILURE_RATE or more, and probes again after COOLDOWN; at most MAX_CONCURRENCY sends in flight
# per endpoint across all workers (0: no cap).
WEBHOOK_FAILING_AFTER_ATTEMPTS = env.int("WEBHOOK_FAILING_AFTER_ATTEMPTS", default=4)
WEBHOOK_BREAKER_FAILURES = env.int("WEBHOOK_BREAKER_FAILURES", default=5)
WEBHOOK_BREAKER_COOLDOWN_SECONDS = env.float("WEBHOOK_BREAKER_COOLDOWN_SECONDS", default=30.0)
WEBHOOK_BREAKER_WINDOW_SECONDS = env.float("WEBHOOK_BREAKER_WINDOW_SECONDS", default=60.0)
WEBHOOK_BREAKER_FAILURE_RATE = env.float("WEBHOOK_BREAKER_FAILURE_RATE", default=0.5)
WEBHOOK_BREAKER_MIN_ATTEMPTS = env.int("WEBHOOK_BREAKER_MIN_ATTEMPTS", default=20)
WEBHOOK_ENDPOINT_MAX_CONCURRENCY = env.int("WEBHOOK_ENDPOINT_MAX_CONCURRENCY", default=10)
# A fan-out task stops waiting for sends still running after this long (a worker thread records them).
WEBHOOK_STRAGGLER_SECONDS = env.float("WEBHOOK_STRAGGLER_SECONDS", default=2.0)

# --- Celery --------------------------------------------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A task a killed worker had taken (acks_late) is handed out again after this many seconds.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    }
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Exchange tables too: by default kombu writes them to ./control, wherever the process started.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Logging: one JSON object per line, with the request id ------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.server": {"level": "WARNING"}},
}

# --- Inbound webhooks, health, metrics ---------------------------------------------------------------------------
# Largest body the public receiver accepts (413 beyond), checked on Content-Length and on the bytes read.
INBOUND_MAX_BODY_BYTES = env.int("INBOUND_MAX_BODY_BYTES", default=1024 * 1024)
# After rotate-secret the replaced inbound secret still verifies this long (0: rejected at once).
INBOUND_SECRET_GRACE_SECONDS = env.int("INBOUND_SECRET_GRACE_SECONDS", default=24 * 3600)
# Processing retries of an inbound event on transient errors (database, broker or network hiccups).
INBOUND_PROCESS_MAX_RETRIES = env.int("INBOUND_PROCESS_MAX_RETRIES", default=5)
# Scheduled health checks: every active integration once per interval, spread over it.
HEALTH_CHECK_INTERVAL_SECONDS = env.int("HEALTH_CHECK_INTERVAL_SECONDS", default=300)
HEALTH_SLOW_MS = env.int("HEALTH_SLOW_MS", default=2000)
HEALTH_UNHEALTHY_THRESHOLD = env.int("HEALTH_UNHEALTHY_THRESHOLD", default=3)
HEALTH_CHECK_RETENTION_DAYS = env.int("HEALTH_CHECK_RETENTION_DAYS", default=30)
# Health at scale (`manage.py run_health_checks`): a full round in batch tasks of one provider's integrations, each
# batch checked by this many threads (the bound per provider host and worker process).
HEALTH_ROUND_BATCH_SIZE = env.int("HEALTH_ROUND_BATCH_SIZE", default=100)
HEALTH_ROUND_HOST_CONCURRENCY = env.int("HEALTH_ROUND_HOST_CONCURRENCY", default=8)
# GET /metrics: a Bearer token, or a client address inside one of these networks. No network is trusted by default
# when DEBUG is off (a proxy on the same host would make every client "loopback"); loopback when DEBUG is on.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"] if DEBUG else [])

# --- OAuth and connections -----------------------------------------------------------------------------------------
# Origins (scheme://host[:port]) besides PUBLIC_BASE_URL's that an OAuth returnUrl may point to (e.g. the web app).
OAUTH_RETURN_URL_ORIGINS = env.list("OAUTH_RETURN_URL_ORIGINS", default=[])
# OAuth completion (docs/security.md): where the public callback sends code and state for flows started without a
# returnUrl (GET …/oauth/authorize), e.g. https://app.example.com/oauth/done. Its origin is allowed implicitly.
# Empty: a page of ours hands them to the window that opened the consent popup (postMessage, allowed origins only).
OAUTH_DEFAULT_RETURN_URL = env.str("OAUTH_DEFAULT_RETURN_URL", default="").strip()
OAUTH_STATE_TTL_SECONDS = env.int("OAUTH_STATE_TTL_SECONDS", default=600)
# Refresh OAuth tokens this long before they expire (a provider's oauthConfig.refreshMarginSeconds overrides it).
OAUTH_REFRESH_MARGIN_SECONDS = env.int("OAUTH_REFRESH_MARGIN_SECONDS", default=900)
# Every third-party call: connect and read timeouts, retry backoff base, longest Retry-After worth waiting for.
PROVIDER_HTTP_CONNECT_TIMEOUT_SECONDS = env.float("PROVIDER_HTTP_CONNECT_TIMEOUT_SECONDS", default=5.0)
PROVIDER_HTTP_TIMEOUT_SECONDS = env.float("PROVIDER_HTTP_TIMEOUT_SECONDS", default=20.0)
PROVIDER_HTTP_BACKOFF_SECONDS = env.float("PROVIDER_HTTP_BACKOFF_SECONDS", default=0.5)
PROVIDER_HTTP_MAX_RETRY_AFTER_SECONDS = env.float("PROVIDER_HTTP_MAX_RETRY_AFTER_SECONDS", default=10.0)
# Connections beyond the basics (provider admin API, discovery, keep-alive, proxy, rate budgets):
# - networks (CIDR) whose hosts a provider may name with http:// (test and on-premise servers); https:// otherwise;
# - a CA bundle every provider call trusts (a private CA for on-premise systems); proxy variables stay ignored;
# - how long an OAuth discovery document is cached;
# - the auth proxy's body limit, both ways (413 beyond);
# - the longest wait a provider's rate-limit answer can impose on a connection's shared budget.
PROVIDER_ALLOWED_NETWORKS = env.list("PROVIDER_ALLOWED_NETWORKS", default=[])
REQUESTS_CA_BUNDLE = env.str("REQUESTS_CA_BUNDLE", default="")
OAUTH_DISCOVERY_CACHE_SECONDS = env.int("OAUTH_DISCOVERY_CACHE_SECONDS", default=3600)
PROXY_MAX_BODY_BYTES = env.int("PROXY_MAX_BODY_BYTES", default=10 * 1024 * 1024)
PROVIDER_RATE_LIMIT_MAX_WAIT_SECONDS = env.int("PROVIDER_RATE_LIMIT_MAX_WAIT_SECONDS", default=60)
# requests-oauthlib logs token responses at DEBUG: keep those loggers quiet whatever LOG_LEVEL says.
LOGGING["loggers"].update({"requests_oauthlib": {"level": "WARNING"}, "oauthlib": {"level": "WARNING"}})

# --- Tenant portal (/portal/) -------------------------------------------------------------------------------------
# Origins allowed to frame the portal (CSP frame-ancestors), comma-separated, e.g. https://app.example.com.
# Empty: the portal may be framed by this service's own pages only ('self').
PORTAL_FRAME_ANCESTORS = env.list("PORTAL_FRAME_ANCESTORS", default=[])
# An app that frames the portal from another site over HTTPS needs SameSite=None cookies (see README, "Tenant portal").
SESSION_COOKIE_SAMESITE = env.str("SESSION_COOKIE_SAMESITE", default="Lax")
CSRF_COOKIE_SAMESITE = env.str("CSRF_COOKIE_SAMESITE", default="Lax")
if "None" in (SESSION_COOKIE_SAMESITE, CSRF_COOKIE_SAMESITE) and not SESSION_COOKIE_SECURE:
    # Browsers drop a SameSite=None cookie that is not Secure: the framed portal would silently sign nobody in.
    raise ImproperlyConfigured(
        "SameSite=None cookies need HTTPS: set PUBLIC_BASE_URL to https:// (or SESSION_COOKIE_SECURE)."
    )

# --- Search and widgets ------------------------------------------------------------------------------------------
# Search fans out to every searchable integration at once; one that has not answered after this long is reported as
# timed out beside the others' results.
SEARCH_PROVIDER_TIMEOUT_SECONDS = env.float("SEARCH_PROVIDER_TIMEOUT_SECONDS", default=8.0)
