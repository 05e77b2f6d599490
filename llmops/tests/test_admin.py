"""Smoke test for every model registered in the admin: changelist, add and change pages render."""

import factory
import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.tests import factories as account_factories
from evaluation.tests import factories as evaluation_factories
from experiments.tests import factories as experiment_factories
from prompts.tests import factories as prompt_factories
from runs.tests import factories as run_factories

FACTORY_MODULES = [account_factories, prompt_factories, run_factories, evaluation_factories, experiment_factories]


def _factory_for(model):
    for module in FACTORY_MODULES:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, factory.Factory) and value._meta.model is model:
                return value
    return None


PROJECT_MODELS = [
    model
    for model in admin.site._registry
    if model._meta.app_label in {"accounts", "prompts", "runs", "evaluation", "experiments"}
]


def test_every_domain_model_is_registered_and_has_a_factory():
    labels = {model._meta.label for model in PROJECT_MODELS}
    assert {
        "accounts.User",
        "accounts.Project",
        "accounts.Membership",
        "accounts.APIKey",
        "prompts.Prompt",
        "prompts.PromptVersion",
        "prompts.PromptLabel",
        "prompts.PromptLabelEvent",
        "runs.ModelEndpoint",
        "runs.ModelPrice",
        "runs.Run",
        "runs.CostLog",
        "evaluation.GoldenExample",
        "evaluation.EvaluationResult",
        "experiments.Experiment",
        "experiments.ExperimentResult",
    } <= labels
    assert [m._meta.label for m in PROJECT_MODELS if _factory_for(m) is None] == []


@pytest.mark.django_db
@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m._meta.label)
def test_admin_pages_render(admin_client, model):
    obj = _factory_for(model)()
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    changelist = admin_client.get(reverse(f"{prefix}_changelist"))
    assert changelist.status_code == 200
    change = admin_client.get(reverse(f"{prefix}_change", args=[obj.pk]))
    assert change.status_code == 200
    assert str(obj.pk) in change.content.decode() or str(obj) in change.content.decode()
    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(change.wsgi_request):
        assert admin_client.get(reverse(f"{prefix}_add")).status_code == 200
