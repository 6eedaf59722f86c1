from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConsoleConfig(AppConfig):
    """The super admin's console: the admin site with its dashboard, and the landing page at `/`."""

    default = True
    name = "console"


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin, with the console's site as `admin.site` (so every `@admin.register` lands there)."""

    default = False
    default_site = "console.site.ConsoleAdminSite"
