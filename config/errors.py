"""The small family of domain errors services raise; config.api.exception_handler turns each into api.md's shape."""

from collections.abc import Mapping


class DomainError(Exception):
    status_code = 400
    code = "ERROR"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: Mapping | None = None, code: str | None = None):
        self.message = message or self.default_message
        self.details = dict(details or {})
        if code:
            self.code = code
        super().__init__(self.message)


class ValidationFailed(DomainError):
    status_code = 400
    code = "VALIDATION_ERROR"
    default_message = "Invalid input."


class NotFound(DomainError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = "Not found."

    def __init__(self, resource: str = "", message: str | None = None, **kwargs):
        code = f"{resource.upper()}_NOT_FOUND" if resource else None
        super().__init__(
            message or (f"{resource.replace('_', ' ').capitalize()} not found." if resource else None),
            code=code,
            **kwargs,
        )


class Conflict(DomainError):
    status_code = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state."


class PermissionDenied(DomainError):
    status_code = 403
    code = "PERMISSION_DENIED"
    default_message = "You do not have permission to perform this action."


class InvalidCredentials(DomainError):
    status_code = 400
    code = "INVALID_CREDENTIALS"
    default_message = "The provider rejected the credentials."


class ConnectionFailed(DomainError):
    """The third party could not be reached or answered with an error (a gateway problem, not the caller's)."""

    status_code = 502
    code = "CONNECTION_FAILED"
    default_message = "The connection to the provider failed."


class RateLimited(DomainError):
    """429 with `Retry-After` (and `retryAfter` in the body): a budget or lockout that ends in `retry_after` seconds."""

    status_code = 429
    code = "RATE_LIMIT_EXCEEDED"
    default_message = "Rate limit exceeded. Please try again later."

    def __init__(self, message: str | None = None, *, retry_after: int, **kwargs):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, **kwargs)
