"""Console admins whose writes go through the services (every app's admin uses these).

``save_form`` calls the service and returns the saved row; ``save_model`` then has nothing left to
do, and ``save_related`` saves only the inlines (a form built for a service has no ``save_m2m``).
A delete the service refuses (billing records, say) becomes a message on the page, not a 500.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from llmops.core.errors import DomainError


def add_domain_error(form: forms.BaseForm, error: DomainError, aliases: dict[str, str] | None = None) -> None:
    """A service's error on the field it names (``scopes[0]`` is the scopes field), else on the form."""
    field = (error.param or "").split(".")[0].split("[")[0]
    field = (aliases or {}).get(field, field)
    form.add_error(field if field in form.fields else None, error.message)


class ServiceSavedAdminMixin:
    """Mix into a ModelAdmin that overrides ``save_form`` to call its service."""

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        """Saved by save_form through the service."""

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class DeleteThroughServiceMixin:
    """A delete the service refuses is an error message where the person was, never a 500."""

    def delete_view(self, request: HttpRequest, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            opts = self.opts
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))

    def response_action(self, request: HttpRequest, queryset):
        try:
            return super().response_action(request, queryset)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
