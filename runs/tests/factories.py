from __future__ import annotations

from decimal import Decimal

import factory

from accounts.tests.factories import ProjectFactory
from prompts.tests.factories import PromptVersionFactory
from runs.models import CostLog, ModelEndpoint, ModelPrice, Run


class ModelEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelEndpoint

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"endpoint-{n}")
    provider = ModelEndpoint.Provider.HUGGINGFACE
    model_id = "fake/model"
    base_url = "http://127.0.0.1:9/v1"
    input_price_per_million = Decimal("0.50")
    output_price_per_million = Decimal("1.50")


class ModelPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelPrice

    model_id = factory.Sequence(lambda n: f"vendor/model-{n}")
    input_price_per_million = Decimal("0.10")
    output_price_per_million = Decimal("0.30")


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    prompt_version = factory.SubFactory(PromptVersionFactory)
    project = factory.LazyAttribute(lambda run: run.prompt_version.prompt.project)
    model_id = "fake/model"
    variables = factory.LazyFunction(lambda: {"input": "I love this!"})
    rendered_prompt = "Analyze the sentiment of this text: I love this!"


class CostLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CostLog

    run = factory.SubFactory(RunFactory)
    project = factory.LazyAttribute(lambda log: log.run.project)
    model_id = "fake/model"
    input_tokens = 10
    output_tokens = 5
    input_price_per_million = Decimal("0.50")
    output_price_per_million = Decimal("1.50")
    cost = Decimal("0.000012500")
