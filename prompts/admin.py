"""The prompt registry in the console. Versions and label history are read-only here: saving a
prompt with changed content creates a version, and labels move only through the services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from accounts.admin_access import ProjectScopedAdminMixin, has_role, projects_for
from accounts.admin_services import DeleteThroughServiceMixin
from accounts.models import Membership
from llmops.core.errors import DomainError
from prompts import diff, services
from prompts.forms import DiffForm, PromoteForm, PromptAdminForm, PromptVersionAddForm, RollbackForm
from prompts.models import Prompt, PromptLabel, PromptLabelEvent, PromptVersion


class ReadOnlyInline(ProjectScopedAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    project_field = "prompt__project"

    def _project_id_of(self, obj) -> object:
        return obj.project_id  # an inline is asked about its parent, the prompt

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class PromptVersionInline(ReadOnlyInline):
    model = PromptVersion
    fields = ("version", "kind", "template_format", "commit_message", "label_names", "content_hash", "created_at")
    readonly_fields = fields
    show_change_link = True
    ordering = ("-version",)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("labels")

    @admin.display(description="labels")
    def label_names(self, version: PromptVersion) -> str:
        return ", ".join(sorted(label.name for label in version.labels.all()))


class PromptLabelEventInline(ReadOnlyInline):
    model = PromptLabelEvent
    fk_name = "prompt"
    verbose_name_plural = "label history"
    fields = ("created_at", "label", "from_version", "to_version", "actor", "actor_key", "reason")
    readonly_fields = fields
    ordering = ("-created_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_version", "to_version", "actor", "actor_key")


@admin.register(Prompt)
class PromptAdmin(DeleteThroughServiceMixin, ProjectScopedAdminMixin, admin.ModelAdmin):
    form = PromptAdminForm
    list_display = ("name", "project", "latest_version_number", "label_summary", "updated_at")
    list_filter = ("project",)
    search_fields = ("name", "description")
    list_select_related = ("project",)
    readonly_fields = ("latest_version_number", "label_summary", "created_at", "updated_at")
    change_form_template = "admin/prompts/prompt/change_form.html"
    new_version_fields = (
        "kind",
        "template_format",
        "template",
        "messages",
        "model_settings",
        "variables_schema",
        "commit_message",
        "new_labels",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("labels__version")

    def get_fieldsets(self, request, obj=None):
        prompt = ("project", "name", "description", "tags")
        if obj is not None:
            prompt = (*prompt, "latest_version_number", "label_summary", "created_at", "updated_at")
        title = "New version" if obj is not None else "Version 1"
        description = (
            "Saving with changed content creates a new version; existing versions never change."
            if obj is not None
            else None
        )
        return [(None, {"fields": prompt}), (title, {"fields": self.new_version_fields, "description": description})]

    def get_readonly_fields(self, request, obj=None):
        # A name is how applications fetch a prompt, and a prompt never changes project.
        return (*self.readonly_fields, "project", "name") if obj is not None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [PromptVersionInline, PromptLabelEventInline] if obj is not None else []

    @admin.display(description="labels")
    def label_summary(self, prompt: Prompt) -> str:
        return ", ".join(f"{label.name}=v{label.version.version}" for label in prompt.labels.all()) or "-"

    def save_model(self, request: HttpRequest, obj: Prompt, form: PromptAdminForm, change: bool) -> None:
        if not change:
            created = services.prompt_create(
                project=obj.project,
                name=obj.name,
                description=obj.description,
                tags=form.cleaned_data["tags"],
                created_by=request.user,
                **form.version_arguments(),
            )
            # The admin goes on with the instance it built (log entry, redirect): make it the saved row.
            obj.pk, obj.latest_version_number = created.pk, created.latest_version_number
            obj._state.adding, obj._state.db = False, created._state.db
            return
        services.prompt_update(prompt=obj, description=obj.description, tags=form.cleaned_data["tags"])
        version, created = services.prompt_version_create(
            prompt=obj, created_by=request.user, **form.version_arguments()
        )
        if created:
            self.message_user(request, f"Created version {version.version}.", messages.SUCCESS)
        else:
            self.message_user(request, f"Content unchanged: still version {version.version}.", messages.INFO)

    def get_deleted_objects(self, objs, request: HttpRequest):
        # Versions, labels and history cannot be deleted on their own, but they belong to the
        # prompt: whoever may delete a prompt deletes them with it. Runs still protect versions.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        owned = {str(model._meta.verbose_name) for model in (PromptVersion, PromptLabel, PromptLabelEvent)}
        return deleted, counts, set(perms_needed) - owned, protected

    def delete_model(self, request: HttpRequest, obj: Prompt) -> None:
        services.prompt_delete(prompt=obj)  # drops the prompt's cached resolutions too

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for prompt in queryset:
            services.prompt_delete(prompt=prompt)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<uuid:object_id>/promote/", view(self.promote_view), name="prompts_prompt_promote"),
            path("<uuid:object_id>/rollback/", view(self.rollback_view), name="prompts_prompt_rollback"),
            path("<uuid:object_id>/diff/", view(self.diff_view), name="prompts_prompt_diff"),
            *super().get_urls(),
        ]

    def _prompt_for(self, request: HttpRequest, object_id, *, change: bool) -> Prompt:
        prompt = get_object_or_404(self.get_queryset(request), pk=object_id)
        allowed = self.has_change_permission(request, prompt) if change else self.has_view_permission(request, prompt)
        if not allowed:
            raise PermissionDenied
        return prompt

    def _page(self, request: HttpRequest, prompt: Prompt, template: str, title: str, **context) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": prompt,
            "title": title,
            "change_url": reverse("admin:prompts_prompt_change", args=[prompt.pk]),
            **context,
        }
        return TemplateResponse(request, f"admin/prompts/prompt/{template}", context)

    def promote_view(self, request: HttpRequest, object_id) -> HttpResponse:
        prompt = self._prompt_for(request, object_id, change=True)
        form = PromoteForm(request.POST or None, prompt=prompt, initial={"version": prompt.latest_version_number})
        if request.method == "POST" and form.is_valid():
            try:
                services.label_move(
                    prompt=prompt,
                    label=form.cleaned_data["label"],
                    version=form.cleaned_data["version"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as error:
                form.add_error("label" if error.param == "label" else None, error.message)
            else:
                self.message_user(
                    request, f"{form.cleaned_data['label']} now points at v{form.cleaned_data['version']}."
                )
                return HttpResponseRedirect(reverse("admin:prompts_prompt_change", args=[prompt.pk]))
        return self._page(request, prompt, "promote.html", f"Promote a version of {prompt.name}", form=form)

    def rollback_view(self, request: HttpRequest, object_id) -> HttpResponse:
        prompt = self._prompt_for(request, object_id, change=True)
        form = RollbackForm(request.POST or None, prompt=prompt)
        if request.method == "POST" and form.is_valid():
            try:
                label = services.label_rollback(
                    prompt=prompt,
                    label=form.cleaned_data["label"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f"{label.name} rolled back to v{label.version.version}.")
                return HttpResponseRedirect(reverse("admin:prompts_prompt_change", args=[prompt.pk]))
        return self._page(request, prompt, "rollback.html", f"Roll back a label of {prompt.name}", form=form)

    def diff_view(self, request: HttpRequest, object_id) -> HttpResponse:
        prompt = self._prompt_for(request, object_id, change=False)
        latest = prompt.latest_version_number
        if latest < 1:
            raise Http404("this prompt has no versions")
        initial = {"from_version": max(latest - 1, 1), "to_version": latest}
        form = DiffForm(request.GET or initial, prompt=prompt)
        context = {"form": form}
        if form.is_valid():
            versions = {v.version: v for v in prompt.versions.filter(version__in=form.cleaned_data.values())}
            old, new = versions[form.cleaned_data["from_version"]], versions[form.cleaned_data["to_version"]]
            # HtmlDiff escapes the template text itself; the table markup is difflib's own.
            context.update(
                old=old,
                new=new,
                table=mark_safe(diff.html_diff_rows(old, new)),  # noqa: S308
                changes=diff.version_diff(old, new),
            )
        return self._page(request, prompt, "diff.html", f"Diff of {prompt.name}", **context)


@admin.register(PromptVersion)
class PromptVersionAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    project_field = "prompt__project"

    list_display = ("prompt", "version", "kind", "template_format", "commit_message", "created_at")
    list_filter = ("kind", "template_format", "prompt__project")
    search_fields = ("prompt__name", "commit_message", "template")
    list_select_related = ("prompt", "prompt__project")
    actions = ("promote_to_production", "promote_to_staging")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # versions are immutable

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # runs and experiments refer to versions; history stays whole

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        # Adding is the service's "next version" (as POST /prompts/{id}/versions): the number, the
        # author and the content hash are never typed, so the prompt's counter always moves with it.
        prompts = Prompt.objects.all()
        if not request.user.is_superuser:
            prompts = prompts.filter(project__in=projects_for(request.user, min_role=self.change_role))

        class AddForm(PromptVersionAddForm):
            def __init__(self, *args, **form_kwargs) -> None:
                form_kwargs.pop("instance", None)
                super().__init__(*args, prompts=prompts, **form_kwargs)
                self.instance = PromptVersion()  # the add view reads it before and after validation

        return AddForm

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is not None:
            return super().get_fieldsets(request, obj)
        return [(None, {"fields": ("prompt", *PromptAdmin.new_version_fields)})]

    def save_form(self, request: HttpRequest, form: PromptVersionAddForm, change: bool) -> PromptVersion:
        version, created = services.prompt_version_create(
            prompt=form.cleaned_data["prompt"], created_by=request.user, **form.version_arguments()
        )
        if not created:
            self.message_user(request, f"Content unchanged: still version {version.version}.", messages.INFO)
        return version

    def save_model(self, request: HttpRequest, obj: PromptVersion, form, change: bool) -> None:
        """Saved by save_form through the service."""

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """A version has no related rows to save from this form."""

    def has_promote_permission(self, request) -> bool:
        return request.user.is_superuser or self._allowed(request, None, Membership.Role.MEMBER)

    def _promote(self, request: HttpRequest, queryset, label: str) -> None:
        versions = list(queryset.select_related("prompt"))
        if len({version.prompt_id for version in versions}) != len(versions):
            self.message_user(request, f"Select at most one version per prompt for '{label}'.", messages.ERROR)
            return
        if not request.user.is_superuser and not all(
            has_role(request.user, version.prompt.project_id, Membership.Role.MEMBER) for version in versions
        ):
            self.message_user(request, "You may move labels only in projects where you are a member.", messages.ERROR)
            return
        for version in versions:
            services.label_move(prompt=version.prompt, label=label, version=version, actor=request.user)
        self.message_user(request, f"'{label}' moved for {len(versions)} prompt(s).", messages.SUCCESS)

    @admin.action(description="Promote the selected versions to production", permissions=["promote"])
    def promote_to_production(self, request, queryset) -> None:
        self._promote(request, queryset, "production")

    @admin.action(description="Promote the selected versions to staging", permissions=["promote"])
    def promote_to_staging(self, request, queryset) -> None:
        self._promote(request, queryset, "staging")


@admin.register(PromptLabel)
class PromptLabelAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    project_field = "prompt__project"

    list_display = ("prompt", "name", "version", "updated_at", "history_link")
    list_filter = ("name",)
    search_fields = ("prompt__name", "name")
    list_select_related = ("prompt", "version")
    actions = ("roll_back",)

    def has_add_permission(self, request) -> bool:
        return False  # labels move through the prompt page or the API, which record the history

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_rollback_permission(self, request) -> bool:
        return request.user.is_superuser or self._allowed(request, None, Membership.Role.MEMBER)

    @admin.display(description="history")
    def history_link(self, label: PromptLabel) -> str:
        url = reverse("admin:prompts_promptlabelevent_changelist")
        return format_html(
            '<a href="{}?prompt__id__exact={}&label__exact={}">history</a>', url, label.prompt_id, label.name
        )

    @admin.action(description="Roll back the selected labels to their previous version", permissions=["rollback"])
    def roll_back(self, request, queryset) -> None:
        for label in queryset.select_related("prompt"):
            if not request.user.is_superuser and not has_role(request.user, label.prompt.project_id, "member"):
                self.message_user(request, f"{label}: you are not a member of its project.", messages.ERROR)
                continue
            try:
                moved = services.label_rollback(prompt=label.prompt, label=label.name, actor=request.user)
            except DomainError as error:
                self.message_user(request, f"{label}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{label} rolled back to v{moved.version.version}.", messages.SUCCESS)


@admin.register(PromptLabelEvent)
class PromptLabelEventAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    project_field = "prompt__project"

    list_display = ("created_at", "prompt", "label", "from_version", "to_version", "actor", "actor_key", "reason")
    list_filter = ("label", "prompt")
    search_fields = ("prompt__name", "label", "reason")
    list_select_related = ("prompt", "from_version", "to_version", "actor", "actor_key")

    def has_add_permission(self, request) -> bool:
        return False  # history is written by the services, in the transaction of each move

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # history is append-only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
