"""Django admin for the event type catalog: super admins add and edit types with the same rules as the API."""

from django import forms
from django.contrib import admin

from config.errors import ValidationFailed
from webhooks import event_types
from webhooks.models import EventType


class EventTypeForm(forms.ModelForm):
    class Meta:
        model = EventType
        fields = ("name", "description", "group", "schema", "example", "deprecated")

    def clean(self):
        """Check the schema and the example with the service's rules, so a bad one is a form error, not a 500."""
        cleaned = super().clean()
        try:
            schema = event_types._clean_schema(cleaned.get("schema"))
            event_types._clean_example(schema, cleaned.get("example") if cleaned.get("example") is not None else {})
        except ValidationFailed as exc:
            raise forms.ValidationError([f"{field}: {'; '.join(m)}" for field, m in exc.details.items()]) from None
        return cleaned


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin):
    form = EventTypeForm
    list_display = ("name", "group", "version", "deprecated", "builtin", "updated_at")
    list_filter = ("group", "deprecated", "builtin")
    search_fields = ("name", "description")
    readonly_fields = ("version", "builtin", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "name") if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in ("description", "group", "schema", "example", "deprecated")}
        if change:
            saved = event_types.event_type_update(event_type=obj, data=data)
        else:
            saved = event_types.event_type_create(name=form.cleaned_data["name"], **data)
        obj.pk, obj.version = saved.pk, saved.version
