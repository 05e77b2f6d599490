from __future__ import annotations

import factory

from accounts.tests.factories import ProjectFactory
from prompts.hashing import content_hash
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
        skip_postgeneration_save = True

    prompt = factory.SubFactory(PromptFactory)
    version = factory.Sequence(lambda n: n + 1)
    kind = PromptVersion.Kind.TEXT
    template_format = PromptVersion.TemplateFormat.FSTRING
    template = "Analyze the sentiment of this text: {input}"
    messages = factory.LazyFunction(list)
    model_settings = factory.LazyFunction(dict)
    variables_schema = None
    variables = factory.LazyFunction(lambda: ["input"])
    content_hash = factory.LazyAttribute(
        lambda v: content_hash(
            kind=v.kind,
            template_format=v.template_format,
            template=v.template,
            messages=v.messages,
            model_settings=v.model_settings,
            variables_schema=v.variables_schema,
        )
    )

    @factory.post_generation
    def bump_latest_number(version, create, extracted, **kwargs):
        # Keep the prompt's counter ahead of factory-made versions, so services can add the next one.
        if create:
            Prompt.objects.filter(pk=version.prompt_id, latest_version_number__lt=version.version).update(
                latest_version_number=version.version
            )


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
