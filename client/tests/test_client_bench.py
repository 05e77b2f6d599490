"""bench/client.py, with a short outage: the same measurement the README quotes for 30 s."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "client.py"


@pytest.mark.slow
def test_the_client_benchmark_meets_its_targets_with_a_short_outage():
    done = subprocess.run([sys.executable, str(BENCH), "--outage-seconds", "2"],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "ratio uncached / cached" in done.stdout
    assert ", 0 errors raised" in done.stdout and "all targets met" in done.stdout
