"""The typed view of ``Experiment.config`` (a JSON column): what was asked, and what was resolved
when the experiment was created (the endpoint of each version), so later steps never guess."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from experiments.models import Experiment

DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class ExperimentConfig:
    versions: list[int] = field(default_factory=list)
    scorers: list[dict] = field(default_factory=lambda: [{"name": "exact", "threshold": 1.0, "params": {}}])
    repeats: int = 1
    concurrency: int = DEFAULT_CONCURRENCY
    model_endpoint: str | None = None
    cache: bool = False
    golden_filter: dict = field(default_factory=lambda: {"split": None, "tags": [], "ids": []})
    parameters: dict = field(default_factory=dict)
    max_attempts: int | None = None
    # Version id -> model endpoint id, resolved at creation.
    endpoints: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentConfig:
        stored: dict[str, Any] = experiment.config or {}
        known = {name: stored[name] for name in cls.__dataclass_fields__ if stored.get(name) is not None}
        return cls(**known)

    def as_json(self) -> dict:
        return asdict(self)

    def public(self) -> dict:
        """The configuration as the report shows it."""
        golden_filter = self.golden_filter or {}
        return {
            "versions": list(self.versions),
            "scorers": [
                {"name": s["name"], "threshold": s.get("threshold"), "params": s.get("params") or {}}
                for s in self.scorers
            ],
            "repeats": self.repeats,
            "concurrency": self.concurrency,
            "model_endpoint": self.model_endpoint,
            "cache": self.cache,
            "golden_filter": {"split": golden_filter.get("split"), "tags": list(golden_filter.get("tags") or [])},
            "parameters": dict(self.parameters),
        }

    @property
    def primary_scorer(self) -> dict:
        return self.scorers[0]
