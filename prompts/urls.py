"""Prompt registry routes (mounted under /api/v1/). No trailing slashes, as in the seed's paths."""

from django.urls import path

from prompts.views import PromptLabelViewSet, PromptVersionViewSet, PromptViewSet

prompts = PromptViewSet.as_view({"get": "list", "post": "create"})
prompt = PromptViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})
versions = PromptVersionViewSet.as_view({"get": "list", "post": "create"})
version = PromptVersionViewSet.as_view({"get": "retrieve"})
labels = PromptLabelViewSet.as_view({"get": "list"})
label = PromptLabelViewSet.as_view({"get": "retrieve", "post": "move", "delete": "remove"})
history = PromptLabelViewSet.as_view({"get": "history"})

urlpatterns = [
    path("prompts", prompts, name="prompt-list"),
    path("prompts/by-name/<path:name>", PromptViewSet.as_view({"get": "by_name"}), name="prompt-by-name"),
    path("prompts/<uuid:prompt_id>", prompt, name="prompt-detail"),
    path("prompts/<uuid:prompt_id>/render", PromptViewSet.as_view({"post": "render"}), name="prompt-render"),
    path("prompts/<uuid:prompt_id>/diff", PromptViewSet.as_view({"get": "diff"}), name="prompt-diff"),
    path("prompts/<uuid:prompt_id>/rollback", PromptViewSet.as_view({"post": "rollback"}), name="prompt-rollback"),
    path("prompts/<uuid:prompt_id>/versions", versions, name="prompt-version-list"),
    path("prompts/<uuid:prompt_id>/versions/<int:number>", version, name="prompt-version-detail"),
    path("prompts/<uuid:prompt_id>/labels", labels, name="prompt-label-list"),
    # Before labels/<label>: "history" is a reserved label name for this reason.
    path("prompts/<uuid:prompt_id>/labels/history", history, name="prompt-label-history"),
    path("prompts/<uuid:prompt_id>/label-history", history, name="prompt-label-history-alias"),
    path("prompts/<uuid:prompt_id>/labels/<str:label>", label, name="prompt-label-detail"),
]
