"""The run engine's services, one import for the API, the admin, commands and tasks. Each concern has
its module: creation (check, render, store, publish), execution (claim, call, record), billing (cost
logs, judge budgets), sweeping (lost messages, expired leases), actions (cancel, retry). The state
machine those write through is runs.transitions; endpoints are managed in runs.endpoints."""

from __future__ import annotations

from runs.actions import run_cancel, run_retry
from runs.billing import cost_log_write, judge_call_allow, judge_call_bill
from runs.creation import (
    MAX_ATTEMPTS_LIMIT,
    MAX_IDEMPOTENCY_KEY_CHARS,
    checked_idempotency_key,
    checked_max_attempts,
    merged_parameters,
    run_create,
    run_enqueue,
)
from runs.execution import Claim, Execution, attempt_finish, claim_run, complete_run, fail_or_retry, run_execute
from runs.sweeping import SweepReport, runs_sweep

__all__ = [
    "MAX_ATTEMPTS_LIMIT",
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "Claim",
    "Execution",
    "SweepReport",
    "attempt_finish",
    "checked_idempotency_key",
    "checked_max_attempts",
    "claim_run",
    "complete_run",
    "cost_log_write",
    "fail_or_retry",
    "judge_call_allow",
    "judge_call_bill",
    "merged_parameters",
    "run_cancel",
    "run_create",
    "run_enqueue",
    "run_execute",
    "run_retry",
    "runs_sweep",
]
