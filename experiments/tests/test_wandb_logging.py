"""W&B logging of an experiment report: a real offline run, read back from the files it leaves on disk."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from experiments.exports import csv_columns
from experiments.tests.sample_report import (
    EXPERIMENT_ID,
    EXPERIMENT_NAME,
    GOLDEN_EXPORT,
    SCRIPT_OUTPUT,
    VERDICT_HALLUCINATION,
    sample_report,
)
from experiments.wandb_logging import log_experiment_to_wandb, resolve_mode, summary_metrics

WANDB_ENV = ("WANDB_API_KEY", "WANDB_MODE", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_DIR")


@pytest.fixture
def no_wandb_env(monkeypatch):
    for name in WANDB_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def offline_wandb(monkeypatch, tmp_path, no_wandb_env) -> Path:
    """Offline mode with every directory wandb writes to (runs, staging, cache, config) under tmp_path."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "runs"))
    for name, sub in (("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config")):
        monkeypatch.setenv(name, str(tmp_path / sub))
    return tmp_path / "runs"


def read_records(path: Path) -> list:
    """The protobuf records of a ``.wandb`` transaction log.

    The file is a 7-byte header (``:W&B``, magic, version) then 32 KiB blocks of LevelDB-log
    chunks: CRC32C (4 bytes), length (2), type (1: full, 2: first, 3: middle, 4: last), payload."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, position, pending, payloads = 32768, 7, b"", []
    while position + 7 <= len(data):
        left_in_block = block - position % block
        if left_in_block < 7:
            position += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if length == 0 and kind == 0:
            position += left_in_block
            continue
        payload = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 1:
            payloads.append(payload)
        elif kind == 2:
            pending = payload
        elif kind == 3:
            pending += payload
        elif kind == 4:
            payloads.append(pending + payload)
    records = []
    for payload in payloads:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def summary_from_records(records) -> dict:
    summary: dict = {}
    for record in records:
        if record.WhichOneof("record_type") != "summary":
            continue
        for item in record.summary.update:
            key = item.key or "/".join(item.nested_key)
            summary[key] = json.loads(item.value_json)
    return summary


def test_offline_run_writes_summary_config_and_tables(offline_wandb):
    report = sample_report()

    run_id = log_experiment_to_wandb(report=report, project="llmops-test")

    assert run_id
    run_dirs = list((offline_wandb / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(run_dirs) == 1, list(offline_wandb.rglob("*"))
    run_dir = run_dirs[0]
    records = read_records(run_dir / f"run-{run_id}.wandb")

    run_record = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run_record.run_id == run_id
    assert run_record.project == "llmops-test"
    assert run_record.display_name == EXPERIMENT_NAME
    config = {item.key: json.loads(item.value_json) for item in run_record.config.update}
    assert config["versions"] == [1, 2]
    assert config["repeats"] == 2
    assert [scorer["name"] for scorer in config["scorers"]] == ["exact", "hallucination"]

    summary = summary_from_records(records)
    assert summary["experiment_id"] == EXPERIMENT_ID
    assert summary["status"] == "completed"
    assert summary["v1/exact/mean"] == pytest.approx(1 / 3)
    assert summary["v2/exact/mean"] == pytest.approx(0.8)
    assert summary["v2/hallucination/mean"] == pytest.approx(1.0)
    assert summary["v1/pass_rate"] == pytest.approx(1 / 3)
    assert summary["v2/pass_rate"] == pytest.approx(0.8)
    assert summary["v1/hallucination_rate"] == pytest.approx(2 / 3)
    assert summary["v1/latency_p50_ms"] == pytest.approx(205.0)
    assert summary["v2/latency_p95_ms"] == pytest.approx(158.0)
    assert summary["v1/cost"] == pytest.approx(0.00054)
    assert "v2/cost" not in summary  # cost unknown in v2: absent, never 0
    assert summary["v2/failures"] == 1
    assert summary["examples/_type"] == "table-file"

    tables = {path.name.split("_")[0]: path for path in (run_dir / "files" / "media" / "table").glob("*.table.json")}
    assert set(tables) == {"examples", "comparisons", "flaky"}
    examples = json.loads(tables["examples"].read_text())
    assert examples["columns"] == csv_columns(report)
    assert len(examples["data"]) == 12
    outputs = [row[examples["columns"].index("output")] for row in examples["data"]]
    assert SCRIPT_OUTPUT in outputs  # raw text: W&B tables are not spreadsheets
    comparisons = json.loads(tables["comparisons"].read_text())
    verdicts = [row[comparisons["columns"].index("verdict")] for row in comparisons["data"]]
    assert VERDICT_HALLUCINATION in verdicts
    flaky = json.loads(tables["flaky"].read_text())
    assert flaky["data"][0][0] == GOLDEN_EXPORT


def test_summary_metrics_keys_and_unknowns():
    metrics = summary_metrics(sample_report())

    for version in (1, 2):
        for key in ("exact/mean", "hallucination/mean", "pass_rate", "latency_p50_ms", "latency_p95_ms", "n"):
            assert f"v{version}/{key}" in metrics
    assert metrics["v1/cost"] == pytest.approx(0.00054)
    assert "v2/cost" not in metrics
    assert metrics["v2/hallucination_rate"] == 0.0
    assert all(value is not None for value in metrics.values())


def test_not_configured_returns_none_without_importing_wandb(monkeypatch, no_wandb_env):
    monkeypatch.setitem(sys.modules, "wandb", None)  # any attempt to import wandb now raises ImportError

    assert resolve_mode() is None
    assert log_experiment_to_wandb(report=sample_report()) is None
    assert log_experiment_to_wandb(report=sample_report(), mode="online") is None


FRESH_PROCESS_CHECK = """
import sys
sys.modules["wandb"] = None  # importing wandb anywhere now raises ImportError
import django
django.setup()
from experiments.tests.sample_report import sample_report
from experiments.wandb_logging import log_experiment_to_wandb
assert log_experiment_to_wandb(report=sample_report()) is None
loaded = sorted(name for name, module in sys.modules.items() if name.startswith("wandb") and module is not None)
assert not loaded, loaded
print("ok")
"""


def test_module_never_imports_wandb_when_not_configured(tmp_path):
    """A fresh interpreter: the module itself, not only the call, must leave wandb unimported."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WANDB_")}
    env["DJANGO_SETTINGS_MODULE"] = "llmops.settings_test"

    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_CHECK],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_disabled_mode_returns_none_even_with_a_key(monkeypatch, no_wandb_env):
    monkeypatch.setitem(sys.modules, "wandb", None)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", "disabled")

    assert log_experiment_to_wandb(report=sample_report()) is None


@pytest.mark.parametrize(
    ("env", "mode", "expected"),
    [
        ({"WANDB_API_KEY": "k"}, None, "online"),
        ({"WANDB_MODE": "offline"}, None, "offline"),
        ({"WANDB_MODE": "dryrun"}, None, "offline"),
        ({}, "offline", "offline"),
        ({"WANDB_API_KEY": "k", "WANDB_MODE": "offline"}, None, "offline"),
        ({"WANDB_API_KEY": "k"}, "disabled", None),
        ({"WANDB_MODE": "online"}, None, None),
        ({"WANDB_API_KEY": "  "}, None, None),
    ],
)
def test_resolve_mode(monkeypatch, no_wandb_env, env, mode, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert resolve_mode(mode) == expected


def test_missing_package_with_key_raises_a_clear_error(monkeypatch, no_wandb_env):
    monkeypatch.setitem(sys.modules, "wandb", None)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)

    with pytest.raises(ImproperlyConfigured, match=r"llmops\[wandb\]"):
        log_experiment_to_wandb(report=sample_report())
