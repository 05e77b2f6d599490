"""Writes of experiments, one module per concern; this module names them in one place.

- experiments.creation: validate a request, write the experiment and all its cells at once.
- experiments.lanes: run cells in batches (claims on cell rows, many calls in flight per process).
- experiments.settling: score cells that come back through the run engine or wait for a slow scorer;
  complete the experiment once no cell is left.
- experiments.lifecycle: start, cancel, resume, the sweeper, W&B.
- experiments.cells: the cell state machine every one of them writes through.
"""

from __future__ import annotations

from experiments.creation import (
    MAX_CONCURRENCY,
    MAX_NAME_CHARS,
    MAX_REPEATS,
    GoldenFilter,
    experiment_create,
)
from experiments.lane_loop import LaneReport, experiment_lane_run
from experiments.lifecycle import (
    SWEEP_GRACE_SECONDS,
    DispatchReport,
    SweepReport,
    experiment_cancel,
    experiment_dispatch,
    experiment_resume,
    experiment_wandb_log,
    experiments_sweep,
)
from experiments.publishing import publish_cell_scoring
from experiments.settling import _cell_settle, experiment_cell_score, experiment_finish_if_done

__all__ = [
    "MAX_CONCURRENCY",
    "MAX_NAME_CHARS",
    "MAX_REPEATS",
    "SWEEP_GRACE_SECONDS",
    "DispatchReport",
    "GoldenFilter",
    "LaneReport",
    "SweepReport",
    "_cell_settle",
    "experiment_cancel",
    "experiment_cell_score",
    "experiment_create",
    "experiment_dispatch",
    "experiment_finish_if_done",
    "experiment_lane_run",
    "experiment_resume",
    "experiment_wandb_log",
    "experiments_sweep",
    "publish_cell_scoring",
]
