from __future__ import annotations

import factory

from accounts.tests.factories import ProjectFactory
from evaluation.tests.factories import GoldenExampleFactory
from experiments.models import Experiment, ExperimentResult, ResponseCacheEntry
from prompts.tests.factories import PromptFactory, PromptVersionFactory


class ExperimentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Experiment

    prompt = factory.SubFactory(PromptFactory)
    project = factory.LazyAttribute(lambda experiment: experiment.prompt.project)
    name = factory.Sequence(lambda n: f"experiment {n}")


class ExperimentResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExperimentResult

    experiment = factory.SubFactory(ExperimentFactory)
    prompt_version = factory.LazyAttribute(lambda cell: PromptVersionFactory(prompt=cell.experiment.prompt))
    golden_example = factory.LazyAttribute(lambda cell: GoldenExampleFactory(prompt=cell.experiment.prompt))


class ResponseCacheEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResponseCacheEntry

    project = factory.SubFactory(ProjectFactory)
    key = factory.Sequence(lambda n: f"{n:064x}")
    output = "positive"
    input_tokens = 12
    output_tokens = 1
    latency_ms = 120
