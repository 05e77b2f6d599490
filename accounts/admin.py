"""People, projects, memberships and keys in the console. Every add, change and delete calls the
accounts services, as the API and the commands do; keys are issued once and revoked, never edited
or deleted (runs and cost logs keep naming the key that paid)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from accounts import services
from accounts.admin_access import ProjectScopedAdminMixin, ScopedAdminMixin
from accounts.admin_services import DeleteThroughServiceMixin, ServiceSavedAdminMixin, add_domain_error
from accounts.models import APIKey, BudgetPeriod, Membership, Project, User
from llmops.core.errors import DomainError
from llmops.core.forms import ConsoleFormMixin


@admin.register(User)
class UserAdmin(ScopedAdminMixin, BaseUserAdmin):
    """Django's permissions decide who may open it; a staff user who is not a superuser finds only
    the people they share a project with (here and in the member autocomplete). People are
    platform accounts, not project data: Django's own user forms (password hashing included) save them."""

    list_display = ("username", "email", "is_staff", "is_active", "date_joined")


class MembershipForm(ConsoleFormMixin, forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("user", "project", "role")


def _save_memberships(formset: BaseInlineFormSet) -> None:
    """The inline's rows through the services (the formset has already checked them)."""
    formset.save(commit=False)
    for membership in formset.deleted_objects:
        services.membership_remove(membership=membership)
    for membership in formset.new_objects:
        services.membership_set(project=membership.project, user=membership.user, role=membership.role)
    for membership, _changed in formset.changed_objects:
        stored = Membership.objects.get(pk=membership.pk)
        if stored.user_id != membership.user_id:
            services.membership_remove(membership=stored)
        services.membership_set(project=membership.project, user=membership.user, role=membership.role)


class MembershipInline(ProjectScopedAdminMixin, admin.TabularInline):
    model = Membership
    form = MembershipForm
    extra = 0
    autocomplete_fields = ("user",)
    change_role = Membership.Role.ADMIN

    def _project_id_of(self, obj):
        return obj.pk  # an inline is asked about its parent, the project


class ProjectForm(ConsoleFormMixin, forms.ModelForm):
    class Meta:
        model = Project
        fields = ("name", "slug", "description", "budget_usd", "budget_period")

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        try:
            services.project_check(
                project=None if self.instance._state.adding else self.instance,
                **{name: data[name] for name in ("name", "slug", "budget_usd", "budget_period")},
            )
        except DomainError as error:
            add_domain_error(self, error)
        return data


@admin.register(Project)
class ProjectAdmin(DeleteThroughServiceMixin, ServiceSavedAdminMixin, ProjectScopedAdminMixin, admin.ModelAdmin):
    project_field = ""
    change_role = Membership.Role.ADMIN

    form = ProjectForm
    list_display = ("name", "slug", "budget_usd", "budget_period", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]

    def save_form(self, request: HttpRequest, form: ProjectForm, change: bool) -> Project:
        data = form.cleaned_data
        fields = {name: data[name] for name in ("name", "slug", "description", "budget_usd", "budget_period")}
        if change:
            stored = Project.objects.get(pk=form.instance.pk)
            return services.project_update(project=stored, **fields)
        # The person who creates a project owns it (else a staff user could not see it afterwards).
        project = services.project_create(
            name=fields["name"], slug=fields["slug"], description=fields["description"], owner=request.user
        )
        services.project_update(project=project, budget_usd=fields["budget_usd"], budget_period=fields["budget_period"])
        # The inlines (members added on the same page) were built on the form's instance: make it the saved row.
        form.instance.__dict__.update(project.__dict__)
        return form.instance

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is Membership:
            _save_memberships(formset)
            return
        super().save_formset(request, form, formset, change)

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        services.project_delete(project=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for project in queryset:
            services.project_delete(project=project)


@admin.register(Membership)
class MembershipAdmin(ServiceSavedAdminMixin, ProjectScopedAdminMixin, admin.ModelAdmin):
    change_role = Membership.Role.ADMIN
    form = MembershipForm

    list_display = ("user", "project", "role", "created_at")
    list_filter = ("role", "project")
    search_fields = ("user__username", "user__email", "project__name")
    list_select_related = ("user", "project")
    autocomplete_fields = ("user", "project")

    def save_form(self, request: HttpRequest, form: MembershipForm, change: bool) -> Membership:
        data = form.cleaned_data
        if change:
            stored = Membership.objects.get(pk=form.instance.pk)
            if (stored.user_id, stored.project_id) != (data["user"].pk, data["project"].pk):
                services.membership_remove(membership=stored)
        return services.membership_set(project=data["project"], user=data["user"], role=data["role"])

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.membership_remove(membership=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for membership in queryset:
            services.membership_remove(membership=membership)


class APIKeyForm(ConsoleFormMixin, forms.ModelForm):
    """Checked by the service that issues the key; scopes are checkboxes, never typed JSON."""

    scopes = forms.MultipleChoiceField(
        choices=APIKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(APIKey.DEFAULT_SCOPES),
        help_text="What the key may do; a key never needs more than its job.",
    )

    class Meta:
        model = APIKey
        fields = (
            "project",
            "name",
            "scopes",
            "expires_at",
            "requests_per_minute",
            "runs_per_minute",
            "budget_usd",
            "budget_period",
        )

    def clean(self) -> dict:
        data = super().clean()
        if "name" in data and "scopes" in data:
            try:
                data["scopes"] = services.api_key_check(
                    name=data["name"], scopes=data["scopes"], expires_at=data.get("expires_at")
                )
            except DomainError as error:
                add_domain_error(self, error)
        if data.get("budget_usd") is not None and data["budget_usd"] < 0:
            self.add_error("budget_usd", "budget_usd must not be negative")
        return data


@admin.register(APIKey)
class APIKeyAdmin(ServiceSavedAdminMixin, ProjectScopedAdminMixin, admin.ModelAdmin):
    change_role = Membership.Role.ADMIN
    form = APIKeyForm

    list_display = ("name", "prefix", "project", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("project", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "project__name")
    list_select_related = ("project", "created_by")
    readonly_fields = ("prefix", "key_hash", "created_by", "revoked_at", "last_used_at", "created_at", "updated_at")
    fields = (
        "project",
        "name",
        "scopes",
        "expires_at",
        "requests_per_minute",
        "runs_per_minute",
        "budget_usd",
        "budget_period",
        *readonly_fields,
    )
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None) -> bool:
        # A key's secret and project are fixed at creation; only revocation changes it (an action).
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: runs and cost logs keep the key that paid for them

    def save_form(self, request: HttpRequest, form: APIKeyForm, change: bool) -> APIKey:
        data = form.cleaned_data
        issued = services.api_key_create(
            project=data["project"],
            name=data["name"],
            scopes=data["scopes"],
            expires_at=data.get("expires_at"),
            created_by=request.user,
            requests_per_minute=data.get("requests_per_minute"),
            runs_per_minute=data.get("runs_per_minute"),
            budget_usd=data.get("budget_usd"),
            budget_period=data.get("budget_period") or BudgetPeriod.MONTHLY,
        )
        messages.warning(request, f"Copy this key now, it will not be shown again: {issued.secret}")
        return issued.api_key

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        revoked = 0
        for api_key in self.changeable(request, queryset):  # the admin role in each key's project
            services.api_key_revoke(api_key=api_key)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).")
