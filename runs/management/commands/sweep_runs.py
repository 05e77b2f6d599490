"""Run the sweeper once (celery beat runs it every RUN_SWEEP_INTERVAL_SECONDS): re-publish lost runs, reclaim expired
leases."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from runs.services import runs_sweep


class Command(BaseCommand):
    help = "Re-enqueue runs stuck in queued and re-queue or fail runs whose lease expired, once."

    def handle(self, *args, **options) -> None:
        report = runs_sweep()
        self.stdout.write(
            f"re-enqueued stuck runs: {report.requeued_stuck}; "
            f"re-queued expired leases: {report.requeued_expired}; "
            f"failed expired leases: {report.failed_expired}"
        )
