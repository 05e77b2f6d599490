"""Experiments in the console: the report on each experiment's page (progress, versions, verdicts, the
chart and the per-example matrix), downloads, cancel and resume, and a "Launch experiment" form.

Experiments change only through the services, so their pages are read-only; project roles decide who
may do what (a viewer reads and downloads, a member launches, cancels and resumes).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from accounts.admin_access import ProjectScopedAdminMixin, has_role, projects_for
from accounts.models import Membership
from experiments import caching, services
from experiments.downloads import FORMATS, export_response
from experiments.exports import report_to_html
from experiments.forms import LaunchExperimentForm
from experiments.models import Experiment, ExperimentResult, ResponseCacheEntry
from experiments.selectors import experiment_report
from llmops.core.errors import DomainError
from prompts.models import Prompt


def _version_rows(report: dict) -> list[dict]:
    """The per-version table, flattened for the template: one mean (min-max) per scorer."""
    scorers = [scorer["name"] for scorer in report["config"]["scorers"]]
    rows = []
    for summary in report["versions"]:
        scores = [summary["scores"].get(name) or {} for name in scorers]
        rows.append({**summary, "score_list": scores})
    return rows


@admin.register(Experiment)
class ExperimentAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "prompt", "project", "status", "progress", "total_cells", "created_at", "finished_at")
    list_filter = ("status", "project")
    search_fields = ("name", "prompt__name")
    list_select_related = ("prompt", "project")
    fields = (
        "name",
        "project",
        "prompt",
        "status",
        "model_endpoint",
        "total_cells",
        "api_key",
        "created_at",
        "started_at",
        "finished_at",
        "error_message",
    )
    readonly_fields = fields
    actions = ("cancel_experiments", "resume_experiments")
    change_form_template = "admin/experiments/experiment/change_form.html"
    change_list_template = "admin/experiments/experiment/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Experiment]:
        return (
            super()
            .get_queryset(request)
            .annotate(cells_done=Count("results", filter=~Q(results__status__in=["pending", "running"])))
            .order_by("-created_at")  # an aggregate drops Meta.ordering; pages need a stable order
        )

    @admin.display(description="progress")
    def progress(self, experiment: Experiment) -> str:
        done = getattr(experiment, "cells_done", 0)
        percent = 100 * done / experiment.total_cells if experiment.total_cells else 0
        return f"{done}/{experiment.total_cells} ({percent:.0f}%)"

    # -- pages -----------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("launch/", view(self.launch_view), name="experiments_experiment_launch"),
            path(
                "<uuid:object_id>/cancel/", view(require_POST(self.cancel_view)), name="experiments_experiment_cancel"
            ),
            path(
                "<uuid:object_id>/resume/", view(require_POST(self.resume_view)), name="experiments_experiment_resume"
            ),
            path(
                "<uuid:object_id>/export.<str:file_format>",
                view(self.export_view),
                name="experiments_experiment_export",
            ),
            *super().get_urls(),
        ]

    def _experiment_for(self, request: HttpRequest, object_id, *, change: bool) -> Experiment:
        experiment = get_object_or_404(self.get_queryset(request), pk=object_id)
        allowed = (
            self.has_change_permission(request, experiment) if change else self.has_view_permission(request, experiment)
        )
        if not allowed:
            raise PermissionDenied
        return experiment

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # an experiment is the evidence behind a promotion: it is cancelled, never deleted

    def save_model(self, request: HttpRequest, obj: Experiment, form, change: bool) -> None:
        # Every field is read-only and experiments change only through the services (launch, cancel,
        # resume): a posted form would only write a stale copy over the engine's progress.
        raise PermissionDenied

    def change_view(self, request: HttpRequest, object_id, form_url: str = "", extra_context: dict | None = None):
        if request.method == "POST":
            raise PermissionDenied  # see save_model
        experiment = self.get_queryset(request).filter(pk=object_id).first()
        context = dict(extra_context or {})
        if experiment is not None and self.has_view_permission(request, experiment):
            report = experiment_report(experiment=experiment)
            context.update(
                report=report,
                version_rows=_version_rows(report),
                report_html=report_to_html(report),
                scorer_names=[scorer["name"] for scorer in report["config"]["scorers"]],
                downloads=[
                    (
                        file_format.upper(),
                        reverse("admin:experiments_experiment_export", args=[experiment.pk, file_format]),
                    )
                    for file_format in FORMATS
                ],
                can_operate=self.has_change_permission(request, experiment),
                cells_url=reverse("admin:experiments_experimentresult_changelist")
                + f"?experiment__id__exact={experiment.pk}",
            )
        context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().change_view(request, object_id, form_url, extra_context=context)

    def export_view(self, request: HttpRequest, object_id, file_format: str) -> HttpResponse:
        if file_format not in FORMATS:
            raise Http404(f"no export format '{file_format}'")
        return export_response(
            experiment=self._experiment_for(request, object_id, change=False), file_format=file_format
        )

    def cancel_view(self, request: HttpRequest, object_id) -> HttpResponse:
        experiment = self._experiment_for(request, object_id, change=True)
        self._operate(request, experiment, services.experiment_cancel, "cancelled")
        return HttpResponseRedirect(reverse("admin:experiments_experiment_change", args=[experiment.pk]))

    def resume_view(self, request: HttpRequest, object_id) -> HttpResponse:
        experiment = self._experiment_for(request, object_id, change=True)
        self._operate(request, experiment, services.experiment_resume, "resumed")
        return HttpResponseRedirect(reverse("admin:experiments_experiment_change", args=[experiment.pk]))

    def _operate(self, request: HttpRequest, experiment: Experiment, service, done: str) -> bool:
        try:
            service(experiment=experiment)
        except DomainError as error:
            self.message_user(request, f"{experiment.name}: {error.message}", messages.WARNING)
            return False
        self.message_user(request, f"Experiment '{experiment.name}' {done}.", messages.SUCCESS)
        return True

    # -- launching ---------------------------------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None):
        return self.launch_view(request)

    def _launchable_prompts(self, request: HttpRequest) -> QuerySet[Prompt]:
        if request.user.is_superuser:
            return Prompt.objects.all()
        return Prompt.objects.filter(project__in=projects_for(request.user, min_role=self.change_role))

    def launch_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = LaunchExperimentForm(
            request.POST or None,
            prompts=self._launchable_prompts(request),
            initial={"prompt": request.GET.get("prompt")},  # "Launch experiment" from a prompt's page
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            prompt = data["prompt"]
            try:
                experiment, _ = services.experiment_create(
                    project=prompt.project,
                    prompt=prompt,
                    name=data["name"],
                    versions=data["versions"],
                    model_endpoint=data["model_endpoint"] or None,
                    scorers=data["scorers"],
                    repeats=data["repeats"],
                    concurrency=data["concurrency"],
                    golden_filter=form.golden_filter(),
                    cache=data["cache"],
                )
            except DomainError as error:
                form.add_domain_error(error.param, error.message)
            else:
                self.message_user(
                    request,
                    f"Experiment '{experiment.name}' launched: {experiment.total_cells} cells.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:experiments_experiment_change", args=[experiment.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Launch experiment",
            "form": form,
        }
        return TemplateResponse(request, "admin/experiments/experiment/launch.html", context)

    # -- actions -----------------------------------------------------------------------------------------

    def _operable(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> QuerySet[Experiment]:
        if request.user.is_superuser:
            return queryset
        return queryset.filter(project__in=projects_for(request.user, min_role=self.change_role))

    @admin.action(description="Cancel the selected experiments", permissions=["change"])
    def cancel_experiments(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in self._operable(request, queryset):
            self._operate(request, experiment, services.experiment_cancel, "cancelled")

    @admin.action(description="Resume the selected experiments (failed and cancelled cells)", permissions=["change"])
    def resume_experiments(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in self._operable(request, queryset):
            self._operate(request, experiment, services.experiment_resume, "resumed")


class ReadOnlyProjectAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    """Rows written only by the engine: read here, never added or edited."""

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ExperimentResult)
class ExperimentResultAdmin(ReadOnlyProjectAdmin):
    project_field = "experiment__project"
    list_display = (
        "experiment",
        "prompt_version",
        "golden_example",
        "repeat_index",
        "status",
        "passed",
        "cached",
        "latency_ms",
        "cost",
    )
    list_filter = ("status", "cached", "passed", ("experiment", admin.RelatedOnlyFieldListFilter))
    search_fields = ("experiment__name", "error_message")
    list_select_related = ("experiment", "prompt_version", "prompt_version__prompt", "golden_example")
    readonly_fields = (
        "experiment",
        "prompt_version",
        "golden_example",
        "repeat_index",
        "status",
        "run_link",
        "output",
        "scores",
        "passed",
        "error_type",
        "error_message",
        "cached",
        "latency_ms",
        "input_tokens",
        "output_tokens",
        "cost",
        "attempts",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="run")
    def run_link(self, cell: ExperimentResult) -> str:
        if cell.run_id is None:
            return "cached answer" if cell.cached else "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:runs_run_change", args=[cell.run_id]), cell.run_id)


@admin.register(ResponseCacheEntry)
class ResponseCacheEntryAdmin(ReadOnlyProjectAdmin):
    """The response cache; a member may delete entries to make experiments ask the model again."""

    list_display = ("key", "project", "output_preview", "input_tokens", "output_tokens", "latency_ms", "created_at")
    list_filter = ("project",)
    search_fields = ("key", "output")
    list_select_related = ("project",)
    readonly_fields = (
        "project",
        "key",
        "output",
        "input_tokens",
        "output_tokens",
        "latency_ms",
        "source_run",
        "created_at",
    )
    fields = readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return projects_for(request.user, min_role=Membership.Role.MEMBER).exists()
        return has_role(request.user, obj.project_id, Membership.Role.MEMBER)

    def delete_model(self, request: HttpRequest, obj: ResponseCacheEntry) -> None:
        caching.cache_forget(entry=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ResponseCacheEntry]) -> None:
        for entry in queryset:
            caching.cache_forget(entry=entry)

    @admin.display(description="output")
    def output_preview(self, entry: ResponseCacheEntry) -> str:
        return entry.output if len(entry.output) <= 60 else entry.output[:59] + "…"


# The prompt's admin (already extended with goldens by evaluation) gains an action that launches an
# experiment on the selected prompt. Extending it here keeps prompts unaware of experiments.
_PromptAdminBase = type(admin.site._registry[Prompt])
admin.site.unregister(Prompt)


@admin.register(Prompt)
class PromptWithExperimentsAdmin(_PromptAdminBase):
    actions = (*(_PromptAdminBase.actions or ()), "launch_experiment")

    @admin.action(description="Launch an experiment on the selected prompt", permissions=["change"])
    def launch_experiment(self, request: HttpRequest, queryset: QuerySet[Prompt]) -> HttpResponse | None:
        prompts = list(queryset[:2])
        if len(prompts) != 1:
            self.message_user(request, "Select exactly one prompt to launch an experiment on.", messages.ERROR)
            return None
        return HttpResponseRedirect(f"{reverse('admin:experiments_experiment_launch')}?prompt={prompts[0].pk}")
