from __future__ import annotations

import factory

from evaluation.models import EvaluationResult, GoldenExample
from prompts.tests.factories import PromptFactory
from runs.tests.factories import RunFactory


class GoldenExampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GoldenExample

    prompt = factory.SubFactory(PromptFactory)
    project = factory.LazyAttribute(lambda golden: golden.prompt.project)
    input_data = factory.LazyFunction(lambda: {"input": "I love this!"})
    expected_output = "positive"


class EvaluationResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvaluationResult

    run = factory.SubFactory(RunFactory)
    project = factory.LazyAttribute(lambda result: result.run.project)
    scorer = "exact"
    score = 1.0
    passed = True
    threshold = 1.0
