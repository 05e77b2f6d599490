"""Log an experiment report to Weights & Biases, when W&B is configured.

Configured means ``WANDB_API_KEY`` is set (online runs) or the mode is ``offline`` (``mode=``
argument or ``WANDB_MODE``), in which case the run is written to disk only and can be uploaded
later with ``wandb sync <run directory>``. Otherwise nothing is imported and nothing happens.

The ``wandb`` package is an optional extra: ``pip install "llmops[wandb]"``.

Settings read (all optional): ``WANDB_PROJECT`` (default ``"llmops"``), ``WANDB_ENTITY`` and
``WANDB_DIR``, each from Django settings first, then the environment. Without ``WANDB_DIR``
runs go to ``<VAR_DIR>/wandb``, or the system temporary directory when there is no VAR_DIR.
"""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from experiments.exports import cell_rows, csv_columns

DEFAULT_PROJECT = "llmops"
INSTALL_HINT = 'pip install "llmops[wandb]"'

COMPARISON_COLUMNS = (
    "baseline",
    "candidate",
    "scorer",
    "n",
    "mean_baseline",
    "mean_candidate",
    "mean_difference",
    "ci_low",
    "ci_high",
    "wilcoxon_p",
    "mcnemar_p",
    "significant",
    "verdict",
)
FLAKY_COLUMNS = ("golden_id", "version", "scores", "variance")

# A worker logs on behalf of an experiment: the machine it runs on, its git state, its stdout
# its CPU/GPU metrics and its installed packages say nothing about the experiment: none is captured.
_RUN_SETTINGS = {
    "console": "off",
    "silent": True,
    "disable_git": True,
    "disable_code": True,
    "save_code": False,
    "disable_job_creation": True,
    "x_disable_stats": True,
    "x_disable_meta": True,
    "x_save_requirements": False,
}


def _setting(name: str, default: Any = None) -> Any:
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name)
    return default if value in (None, "") else value


def resolve_mode(mode: str | None = None) -> str | None:
    """The W&B mode to log with, or None when W&B is not configured (or is disabled)."""
    resolved = (mode or os.environ.get("WANDB_MODE") or "").strip().lower()
    if resolved in ("offline", "dryrun"):
        return "offline"
    if resolved == "disabled":
        return None
    if not os.environ.get("WANDB_API_KEY", "").strip():
        return None
    return resolved or "online"


def _run_dir() -> Path:
    configured = _setting("WANDB_DIR")
    if configured:
        directory = Path(configured)
    elif getattr(settings, "VAR_DIR", None):
        directory = Path(settings.VAR_DIR) / "wandb"
    else:
        directory = Path(tempfile.gettempdir()) / "llmops-wandb"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _import_wandb():
    try:
        import wandb
    except ImportError as exc:
        raise ImproperlyConfigured(
            "Weights & Biases logging is configured (WANDB_API_KEY or WANDB_MODE=offline) but the "
            f"wandb package is not installed; install the wandb extra: {INSTALL_HINT}"
        ) from exc
    return wandb


def _reinit_option(wandb: Any) -> Any:
    """``"create_new"`` (wandb >= 0.19.10) leaves any other run of the process alone; older
    versions only know ``True``, which finishes it."""
    from packaging.version import InvalidVersion, Version

    try:
        supported = Version(wandb.__version__) >= Version("0.19.10")
    except InvalidVersion:
        supported = True
    return "create_new" if supported else True


def _run_settings(wandb: Any) -> dict[str, Any]:
    fields = getattr(wandb.Settings, "model_fields", None)
    if fields is None:  # wandb < 0.19: no pydantic settings, no x_ options
        return {key: value for key, value in _RUN_SETTINGS.items() if not key.startswith("x_")}
    return {key: value for key, value in _RUN_SETTINGS.items() if key in fields}


def _number(value: Any) -> float | int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def summary_metrics(report: dict) -> dict[str, Any]:
    """Flat W&B summary keys per version, e.g. ``v2/exact/mean``, ``v2/pass_rate``,
    ``v2/latency_p50_ms``, ``v2/cost``; unknown (null) values are left out."""
    progress = report.get("progress") or {}
    metrics: dict[str, Any] = {
        "experiment_id": report.get("experiment_id"),
        "prompt_id": report.get("prompt_id"),
        "prompt_name": report.get("prompt_name"),
        "status": report.get("status"),
        "progress/percent": progress.get("percent"),
        "progress/total": progress.get("total"),
        "progress/completed": progress.get("completed"),
        "progress/failed": progress.get("failed"),
        "progress/cached": progress.get("cached"),
    }
    for summary in report.get("versions") or []:
        prefix = f"v{summary.get('version')}"
        for name, stats in (summary.get("scores") or {}).items():
            for stat in ("mean", "min", "max", "std", "p50", "p95", "n"):
                metrics[f"{prefix}/{name}/{stat}"] = _number((stats or {}).get(stat))
        latency = summary.get("latency_ms") or {}
        tokens = summary.get("tokens") or {}
        metrics.update(
            {
                f"{prefix}/n": _number(summary.get("n")),
                f"{prefix}/completed": _number(summary.get("completed")),
                f"{prefix}/failures": _number(summary.get("failures")),
                f"{prefix}/pass_rate": _number(summary.get("pass_rate")),
                f"{prefix}/hallucination_rate": _number(summary.get("hallucination_rate")),
                f"{prefix}/latency_mean_ms": _number(latency.get("mean")),
                f"{prefix}/latency_p50_ms": _number(latency.get("p50")),
                f"{prefix}/latency_p95_ms": _number(latency.get("p95")),
                f"{prefix}/tokens_input": _number(tokens.get("input")),
                f"{prefix}/tokens_output": _number(tokens.get("output")),
                f"{prefix}/cost": _number(summary.get("cost")) if summary.get("cost_known", True) else None,
            }
        )
    return {key: value for key, value in metrics.items() if value is not None}


def _tables(wandb: Any, report: dict) -> dict[str, Any]:
    columns = csv_columns(report)
    examples = wandb.Table(columns=columns, data=[[row[column] for column in columns] for row in cell_rows(report)])
    comparisons = wandb.Table(
        columns=list(COMPARISON_COLUMNS),
        data=[[item.get(column) for column in COMPARISON_COLUMNS] for item in report.get("comparisons") or []],
    )
    flaky = wandb.Table(
        columns=list(FLAKY_COLUMNS),
        data=[
            [
                item.get("golden_id"),
                item.get("version"),
                ", ".join(str(s) for s in item.get("scores") or []),
                item.get("variance"),
            ]
            for item in report.get("flaky_examples") or []
        ],
    )
    return {"examples": examples, "comparisons": comparisons, "flaky_examples": flaky}


def log_experiment_to_wandb(
    *, report: dict, project: str | None = None, entity: str | None = None, mode: str | None = None
) -> str | None:
    """Log one experiment report as one W&B run and return the run id; None when W&B is not configured.

    The run is named after the experiment, its config is the experiment config, its summary holds
    ``summary_metrics(report)``, and three tables are logged: ``examples`` (one row per cell, the
    same columns as the CSV export, raw text), ``comparisons`` (the verdicts) and ``flaky_examples``.
    Raises ``ImproperlyConfigured`` when W&B is configured but the wandb package is missing.
    """
    resolved_mode = resolve_mode(mode)
    if resolved_mode is None:
        return None
    wandb = _import_wandb()
    run = wandb.init(
        project=project or _setting("WANDB_PROJECT", DEFAULT_PROJECT),
        entity=entity or _setting("WANDB_ENTITY"),
        name=report.get("name"),
        config=report.get("config") or {},
        job_type="experiment",
        mode=resolved_mode,
        dir=str(_run_dir()),
        reinit=_reinit_option(wandb),
        settings=_run_settings(wandb),
    )
    try:
        run.log(_tables(wandb, report))
        run.summary.update(summary_metrics(report))
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()
    return run.id
