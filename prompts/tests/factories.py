from __future__ import annotations

import hashlib

import factory

from accounts.tests.factories import ProjectFactory
from prompts.models import Prompt, PromptLabel, PromptLabelEvent, PromptVersion


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"prompt-{n}")
    description = "A prompt for tests"


class PromptVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromptVersion

    prompt = factory.SubFactory(PromptFactory)
    version = factory.Sequence(lambda n: n + 1)
    template = "Analyze the sentiment of this text: {input}"
    variables = factory.LazyFunction(lambda: ["input"])
    content_hash = factory.LazyAttribute(lambda v: hashlib.sha256(f"{v.version}:{v.template}".encode()).hexdigest())


class PromptLabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromptLabel

    version = factory.SubFactory(PromptVersionFactory)
    prompt = factory.LazyAttribute(lambda label: label.version.prompt)
    name = "production"


class PromptLabelEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromptLabelEvent

    to_version = factory.SubFactory(PromptVersionFactory)
    prompt = factory.LazyAttribute(lambda event: event.to_version.prompt)
    label = "production"
