"""The admin site of the console: named for the product, with the dashboard as its index page."""

from django.contrib import admin

from console import charts, selectors


class ConsoleAdminSite(admin.AdminSite):
    site_header = "Integration Framework console"
    site_title = "Integration Framework console"
    index_title = "Dashboard"
    index_template = "console/dashboard.html"

    def index(self, request, extra_context=None):
        if not request.user.is_superuser:
            # Every tenant's numbers are for super admins; other staff get the plain list of what they may open.
            return super().index(request, extra_context=extra_context)
        data = selectors.dashboard()
        context = {
            "dashboard": data,
            "deliveries_24h_chart": charts.stacked_bars(data.deliveries_24h, testid="chart-deliveries-24h"),
            "deliveries_7d_chart": charts.stacked_bars(data.deliveries, testid="chart-deliveries-7d", label_every=24),
            "inbound_chart": charts.stacked_bars(data.inbound, testid="chart-inbound-24h"),
            "rate_24h": data.deliveries_24h.success_rate(),
            "rate_7d": data.deliveries.success_rate(),
            "inbound_failed": data.inbound.total("failed"),
            "health_columns": list(selectors.HealthStatus.values),
            **(extra_context or {}),
        }
        return super().index(request, extra_context=context)
