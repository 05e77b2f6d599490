"""The console's "Launch experiment" form: the same options as the API and the command line."""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet

from evaluation.models import GoldenExample
from experiments.config import DEFAULT_CONCURRENCY
from experiments.scoring import DEFAULT_SCORERS, scorer_spec_parse
from experiments.services import MAX_CONCURRENCY, MAX_REPEATS, GoldenFilter
from llmops.core.errors import ValidationFailed
from llmops.core.forms import ConsoleFormMixin
from prompts.models import Prompt


class PromptChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, prompt: Prompt) -> str:
        return f"{prompt.project.slug} / {prompt.name}"


class LaunchExperimentForm(ConsoleFormMixin, forms.Form):
    prompt = PromptChoiceField(queryset=Prompt.objects.none())
    name = forms.CharField(max_length=200)
    versions = forms.CharField(required=False, help_text="comma-separated version numbers; blank: every version")
    scorers = forms.CharField(
        initial="\n".join(scorer["name"] for scorer in DEFAULT_SCORERS),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="one per line: name[:key=value,...], e.g. contains:threshold=0.5 or "
        "llm_judge:judge_endpoint=gemma,rubric=Is it correct?; the first is the primary scorer",
    )
    repeats = forms.IntegerField(min_value=1, max_value=MAX_REPEATS, initial=1)
    concurrency = forms.IntegerField(min_value=1, max_value=MAX_CONCURRENCY, initial=DEFAULT_CONCURRENCY)
    model_endpoint = forms.CharField(
        required=False, max_length=100, help_text="endpoint name or id; blank: each version's own"
    )
    split = forms.ChoiceField(choices=[("", "all goldens"), *GoldenExample.Split.choices[1:]], required=False)
    cache = forms.BooleanField(required=False, help_text="reuse identical earlier answers instead of paying again")

    def __init__(self, *args, prompts: QuerySet[Prompt], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["prompt"].queryset = prompts.select_related("project").order_by("project__slug", "name")

    def clean_versions(self) -> list[int] | None:
        raw = self.cleaned_data["versions"].strip()
        if not raw:
            return None
        try:
            return [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError("comma-separated version numbers, e.g. 2,3") from None

    def clean_scorers(self) -> list[dict]:
        try:
            return [scorer_spec_parse(line) for line in self.cleaned_data["scorers"].splitlines() if line.strip()]
        except ValidationFailed as error:
            raise forms.ValidationError(error.message) from None

    def golden_filter(self) -> GoldenFilter:
        return GoldenFilter(split=self.cleaned_data["split"] or None)

    def add_domain_error(self, param: str | None, message: str) -> None:
        """A service's error on the field it names (``scorers[0].params`` is the scorers field)."""
        field = (param or "").split(".")[0].split("[")[0]
        aliases = {"experiment_name": "name", "goldens": "split", "prompt_id": "prompt"}
        field = aliases.get(field, field)
        self.add_error(field if field in self.fields else None, message)
