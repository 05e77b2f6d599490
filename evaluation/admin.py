"""Golden examples in the console: their own list (with JSONL/CSV export), and on each prompt's page
an inline table plus an "Import goldens" page.

Data flows one way (prompts never import evaluation), so the prompt page gets its goldens here: the
registered Prompt admin is replaced by a subclass that keeps everything the prompts app defines
(inlines, URLs, change-form template) and adds to it.
"""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import content_disposition_header

from accounts.admin_access import ProjectScopedAdminMixin, has_role
from evaluation import golden_io, services
from evaluation.models import EvaluationResult, GoldenExample
from llmops.core.errors import DomainError, ValidationFailed
from llmops.core.forms import CommaListField, ConsoleFormMixin
from prompts.admin import PromptAdmin
from prompts.models import Prompt

_TEXTAREA = {"rows": 2, "cols": 40}


# --- Forms ------------------------------------------------------------------------------------------


class GoldenExampleForm(ConsoleFormMixin, forms.ModelForm):
    """Checks a golden the way the API does: fields, sizes, and the prompt's reference version."""

    expected_output = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs=_TEXTAREA))
    tags = CommaListField(required=False, widget=forms.TextInput(attrs={"size": 20}))

    class Meta:
        model = GoldenExample
        fields = ("prompt", "input_data", "expected_output", "tags", "split", "metadata")
        widgets = {"input_data": forms.Textarea(attrs=_TEXTAREA)}
        help_texts = {"input_data": '{"input": "I love this!"}'}

    def check_golden(self, prompt: Prompt | None) -> None:
        if prompt is None or self.errors:
            return
        data = self.cleaned_data
        if not self.instance._state.adding and prompt.project_id != self.instance.project_id:
            self.add_error("prompt", "a golden example stays in its project: choose a prompt of the same project")
            return
        try:
            row = golden_io.clean_row(
                input_data=data.get("input_data"),
                expected_output=data.get("expected_output", ""),
                tags=data.get("tags"),
                split=data.get("split", ""),
                metadata=data.get("metadata", self.instance.metadata),
            )
            # As in the API: input data is checked against the prompt when it (or the prompt) changes.
            if self.instance._state.adding or {"input_data", "prompt"} & set(self.changed_data):
                services.golden_check(prompt=prompt, row=row)
        except ValidationFailed as error:
            field = (error.param or "").split(".")[0].split("[")[0]
            self.add_error(field if field in self.fields else None, error.message)

    def clean(self) -> dict:
        data = super().clean()
        # In the inline on the prompt page, "prompt" is the formset's parent (possibly not saved yet).
        self.check_golden(data.get("prompt"))
        return data


class GoldenImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL or CSV, UTF-8 (the format the export writes)")
    format = forms.ChoiceField(
        choices=[("", "From the file name (.jsonl, .ndjson, .csv)"), ("jsonl", "JSONL"), ("csv", "CSV")],
        required=False,
    )


# --- Goldens on the prompt page ---------------------------------------------------------------------


def _save_goldens(prompt: Prompt, formset: BaseInlineFormSet) -> None:
    """The inline's rows, written through the services (the formset has already checked them)."""
    formset.save(commit=False)
    for golden in formset.deleted_objects:
        services.golden_delete(golden=golden)
    for golden in formset.new_objects:
        services.golden_create(
            project=prompt.project,
            prompt_id=prompt.pk,
            input_data=golden.input_data,
            expected_output=golden.expected_output,
            tags=golden.tags or [],
            split=golden.split,
            metadata=golden.metadata,
        )
    for golden, changed in formset.changed_objects:
        stored = GoldenExample.objects.select_related("prompt", "project").get(pk=golden.pk)
        services.golden_update(golden=stored, **{name: getattr(golden, name) for name in changed})


class GoldenExampleInline(ProjectScopedAdminMixin, admin.TabularInline):
    model = GoldenExample
    form = GoldenExampleForm
    fields = ("input_data", "expected_output", "tags", "split")
    extra = 0
    show_change_link = True
    verbose_name_plural = "golden examples"

    def _project_id_of(self, obj):
        return obj.project_id  # an inline is asked about its parent, the prompt

    def has_add_permission(self, request, obj=None) -> bool:
        if obj is None or request.user.is_superuser:
            return super().has_add_permission(request, obj)
        return has_role(request.user, obj.project_id, self.change_role)


class PromptWithGoldensAdmin(PromptAdmin):
    """The prompts app's Prompt admin, plus golden examples."""

    change_form_template = "admin/evaluation/prompt_change_form.html"

    def get_inlines(self, request, obj):
        inlines = list(super().get_inlines(request, obj))
        return [*inlines, GoldenExampleInline] if obj is not None else inlines

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<uuid:object_id>/import-goldens/",
                view(self.import_goldens_view),
                name="prompts_prompt_import_goldens",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["base_change_form_template"] = self._base_change_form_template()
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _base_change_form_template(self):
        """The template the prompts app renders this page with; ours adds buttons to it."""
        parent = super().change_form_template
        if parent:
            return parent
        opts = self.model._meta
        return select_template(
            [
                f"admin/{opts.app_label}/{opts.model_name}/change_form.html",
                f"admin/{opts.app_label}/change_form.html",
                "admin/change_form.html",
            ]
        )

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is GoldenExample:
            _save_goldens(form.instance, formset)
            return
        super().save_formset(request, form, formset, change)

    def import_goldens_view(self, request: HttpRequest, object_id) -> HttpResponse:
        prompt = get_object_or_404(self.get_queryset(request).select_related("project"), pk=object_id)
        if not self.has_change_permission(request, prompt):
            raise PermissionDenied
        change_url = reverse("admin:prompts_prompt_change", args=[prompt.pk])
        form = GoldenImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                created = _import_upload(prompt, form.cleaned_data["file"], form.cleaned_data["format"] or None)
            except DomainError as error:
                form.add_error("format" if error.param == "format" else "file", error.message)
            else:
                self.message_user(request, f"Imported {len(created)} golden examples.", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": prompt,
            "title": f"Import golden examples into {prompt.name}",
            "change_url": change_url,
            "form": form,
            "max_rows": golden_io.MAX_IMPORT_ROWS,
            "is_popup": IS_POPUP_VAR in request.GET,
        }
        return TemplateResponse(request, "admin/evaluation/import_goldens.html", context)


def _import_upload(prompt: Prompt, upload, explicit_format: str | None) -> list[GoldenExample]:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if upload.size > limit:
        raise ValidationFailed(f"the file is larger than {limit} bytes, the limit per import", param="file")
    file_format = golden_io.detect_format(
        explicit=explicit_format, content_type=upload.content_type, filename=upload.name
    )
    if file_format is None:
        raise ValidationFailed("cannot tell the file's format: choose JSONL or CSV", param="format")
    rows = golden_io.parse(golden_io.decode(upload.read()), format=file_format)
    return services.goldens_import(project=prompt.project, prompt_id=prompt.pk, rows=rows)


admin.site.unregister(Prompt)
admin.site.register(Prompt, PromptWithGoldensAdmin)


# --- Golden examples -------------------------------------------------------------------------------


@admin.register(GoldenExample)
class GoldenExampleAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    form = GoldenExampleForm
    list_display = (
        "__str__",
        "prompt",
        "project",
        "input_preview",
        "expected_preview",
        "split",
        "tag_list",
        "created_at",
    )
    list_filter = ("split", "project", ("prompt", admin.RelatedOnlyFieldListFilter))
    search_fields = ("expected_output", "prompt__name")
    list_select_related = ("prompt", "project")
    readonly_fields = ("project", "created_at", "updated_at")
    actions = ("export_jsonl", "export_csv")

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ("created_at", "updated_at")

    def get_fields(self, request, obj=None):
        fields = ["prompt", "input_data", "expected_output", "tags", "split", "metadata"]
        return [*fields, "project", "created_at", "updated_at"] if obj is not None else fields

    @admin.display(description="input data")
    def input_preview(self, golden: GoldenExample) -> str:
        return _preview(json.dumps(golden.input_data, ensure_ascii=False))

    @admin.display(description="expected output")
    def expected_preview(self, golden: GoldenExample) -> str:
        return _preview(golden.expected_output)

    @admin.display(description="tags")
    def tag_list(self, golden: GoldenExample) -> str:
        return ", ".join(golden.tags or [])

    def save_model(self, request, obj: GoldenExample, form: GoldenExampleForm, change: bool) -> None:
        data = form.cleaned_data
        fields = {
            "input_data": data["input_data"],
            "expected_output": data.get("expected_output", ""),
            "tags": data.get("tags") or [],
            "split": data.get("split", ""),
            "metadata": data.get("metadata") or {},
        }
        prompt = data["prompt"]
        if not change:
            created = services.golden_create(project=prompt.project, prompt_id=prompt.pk, **fields)
            # The admin goes on with the instance it built (log entry, redirect): make it the saved row.
            obj.pk, obj.project_id, obj.created_at, obj.updated_at = (
                created.pk,
                created.project_id,
                created.created_at,
                created.updated_at,
            )
            obj._state.adding, obj._state.db = False, created._state.db
            return
        stored = GoldenExample.objects.select_related("prompt", "project").get(pk=obj.pk)
        services.golden_update(golden=stored, prompt_id=prompt.pk, **fields)

    def delete_model(self, request, obj: GoldenExample) -> None:
        services.golden_delete(golden=obj)

    def delete_queryset(self, request, queryset: QuerySet[GoldenExample]) -> None:
        for golden in queryset:
            services.golden_delete(golden=golden)

    @admin.action(description="Export the selected golden examples as JSONL", permissions=["view"])
    def export_jsonl(self, request, queryset: QuerySet[GoldenExample]) -> StreamingHttpResponse:
        return _export_response(queryset, golden_io.JSONL)

    @admin.action(description="Export the selected golden examples as CSV", permissions=["view"])
    def export_csv(self, request, queryset: QuerySet[GoldenExample]) -> StreamingHttpResponse:
        return _export_response(queryset, golden_io.CSV)


def _export_response(queryset: QuerySet[GoldenExample], file_format: str) -> StreamingHttpResponse:
    goldens = queryset.select_related(None).order_by("created_at", "id").iterator(chunk_size=500)
    response = StreamingHttpResponse(
        golden_io.export_iter(goldens, format=file_format),
        content_type=f"{golden_io.CONTENT_TYPES[file_format]}; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"golden-examples.{file_format}"
    )
    return response


def _preview(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@admin.register(EvaluationResult)
class EvaluationResultAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    """Scores are written by the scoring engine only: read here, never added, edited or deleted."""

    list_display = ("scorer", "score", "passed", "run", "golden_example", "created_at")
    list_filter = ("scorer", "passed", "project")
    search_fields = ("scorer", "run__id")
    list_select_related = ("run", "golden_example", "project")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
