"""Labels for the portal's pages (the model choices are API values, not prose)."""

from django import template

register = template.Library()

_AUTH = {
    "oauth2": "OAuth 2.0",
    "api_key": "API key",
    "basic": "Username and password",
    "custom": "Credentials",
    "none": "No credentials",
}
_CATEGORY = {
    "hris": "HR",
    "esignature": "E-signature",
    "job_board": "Job boards",
    "crm": "CRM",
    "payment_gateway": "Payments",
    "sms": "SMS",
    "data_source": "Data source",
}


@register.filter
def auth_label(value: str) -> str:
    return _AUTH.get(value, value)


@register.filter
def category_label(value: str) -> str:
    return _CATEGORY.get(value, (value or "").replace("_", " ").capitalize())
