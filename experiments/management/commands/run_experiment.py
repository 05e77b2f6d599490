"""The CI gate: launch an experiment, wait for it, print the comparison, exit non-zero when it fails.

Exit codes: 0 every gate passed; 1 a gate failed, the experiment failed or was cancelled, or the
experiment could not be launched; 2 ``--timeout`` passed first (the experiment goes on running).
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import Project
from experiments import gates, selectors, services
from experiments.exports import report_to_json
from experiments.models import Experiment
from experiments.scoring import scorer_spec_parse
from experiments.services import GoldenFilter
from llmops.core.errors import DomainError
from prompts.models import Prompt

EXIT_FAILED = 1
EXIT_TIMEOUT = 2


class _Stream:
    """tqdm writes carriage returns to redraw its bar: pass them through without a newline."""

    def __init__(self, wrapper) -> None:
        self._wrapper = wrapper

    def write(self, text: str) -> None:
        self._wrapper.write(text, ending="")

    def flush(self) -> None:
        self._wrapper.flush()


class Command(BaseCommand):
    help = "Run an experiment and gate on its result (for CI): see the README, 'Experiments'."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--prompt", required=True, help="prompt name")
        parser.add_argument("--versions", help="comma-separated version numbers (default: every version)")
        parser.add_argument("--name", help="experiment name (default: '<prompt> from the command line')")
        parser.add_argument(
            "--scorer",
            action="append",
            default=[],
            help="name[:key=value,...], repeatable; the first is the primary scorer (default: exact)",
        )
        parser.add_argument("--repeats", type=int, default=1)
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--split", help="only goldens of this split (train, validation, test)")
        parser.add_argument("--tag", action="append", default=[], help="only goldens with this tag (repeatable)")
        parser.add_argument("--model-endpoint", help="endpoint id or name (default: each version's own)")
        parser.add_argument("--cache", action="store_true", help="reuse identical earlier answers")
        parser.add_argument("--wait", action="store_true", help="wait for the result, show progress, apply gates")
        parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (exit 2 after)")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between progress checks")
        parser.add_argument("--fail-under", type=float, help="fail when the newest version's primary mean is lower")
        parser.add_argument(
            "--fail-if-worse-than",
            type=int,
            metavar="VERSION",
            help="fail when the newest version is significantly worse",
        )
        parser.add_argument("--format", choices=["table", "json"], default="table")

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug '{options['project']}'")
        prompt = Prompt.objects.filter(project=project, name=options["prompt"]).first()
        if prompt is None:
            raise CommandError(f"no prompt '{options['prompt']}' in project '{project.slug}'")
        gated = options["fail_under"] is not None or options["fail_if_worse_than"] is not None
        if gated and not options["wait"]:
            raise CommandError("--fail-under and --fail-if-worse-than need --wait")
        versions = self._versions(options["versions"])
        self._check_baseline(prompt, versions, options["fail_if_worse_than"])
        try:
            experiment, _ = services.experiment_create(
                project=project,
                prompt=prompt,
                name=options["name"] or f"{prompt.name} from the command line",
                versions=versions,
                model_endpoint=options["model_endpoint"],
                scorers=[scorer_spec_parse(spec) for spec in options["scorer"]] or None,
                repeats=options["repeats"],
                concurrency=options["concurrency"],
                golden_filter=GoldenFilter(split=options["split"], tags=tuple(options["tag"])),
                cache=options["cache"],
            )
        except DomainError as error:
            where = f"{error.param}: " if error.param else ""
            raise CommandError(f"cannot start the experiment: {where}{error.message}") from None
        self.stderr.write(f"Experiment {experiment.pk} started: {experiment.total_cells} cells.")
        if not options["wait"]:
            self.stdout.write(str(experiment.pk))
            return
        experiment = self._wait(experiment, timeout=options["timeout"], poll=options["poll"])
        report = selectors.experiment_report(experiment=experiment)
        self.stdout.write(report_to_json(report) if options["format"] == "json" else gates.comparison_table(report))
        self._gate(report, options)

    @staticmethod
    def _versions(raw: str | None) -> list[int] | None:
        if not raw:
            return None
        try:
            return [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise CommandError(f"--versions must be comma-separated version numbers, not '{raw}'") from None

    @staticmethod
    def _check_baseline(prompt: Prompt, versions: list[int] | None, baseline: int | None) -> None:
        """Refuse a baseline the experiment would not test before anything is spent."""
        if baseline is None:
            return
        tested = versions or list(prompt.versions.values_list("version", flat=True))
        if baseline not in tested or baseline == max(tested):
            raise CommandError(
                f"--fail-if-worse-than {baseline} must name a tested version older than the newest ({max(tested)})"
            )

    def _wait(self, experiment: Experiment, *, timeout: float, poll: float) -> Experiment:
        deadline = time.monotonic() + timeout
        with tqdm(total=experiment.total_cells, unit="cell", file=_Stream(self.stderr), dynamic_ncols=False) as bar:
            while True:
                experiment.refresh_from_db()
                progress = selectors.experiment_progress(experiment=experiment)
                done = progress["completed"] + progress["failed"] + progress["cancelled"]
                bar.set_postfix(failed=progress["failed"], cached=progress["cached"], refresh=False)
                bar.update(done - bar.n)
                if not experiment.is_active:
                    return experiment
                if time.monotonic() >= deadline:
                    bar.close()
                    raise CommandError(
                        f"timed out after {timeout:g} s; experiment {experiment.pk} is still {experiment.status} "
                        f"({done} of {progress['total']} cells done) and goes on running",
                        returncode=EXIT_TIMEOUT,
                    )
                time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def _gate(self, report: dict, options: dict) -> None:
        results: list[gates.Gate] = []
        if report["status"] != Experiment.Status.COMPLETED:
            results.append(gates.Gate(False, f"the experiment {report['status']}"))
        if options["fail_under"] is not None:
            results.append(gates.fail_under(report, score=options["fail_under"]))
        if options["fail_if_worse_than"] is not None:
            results.append(gates.fail_if_worse_than(report, baseline=options["fail_if_worse_than"]))
        for gate in results:
            self.stderr.write(f"{'PASS' if gate.passed else 'FAIL'}: {gate.message}")
        failed = [gate.message for gate in results if not gate.passed]
        if failed:
            raise CommandError("; ".join(failed), returncode=EXIT_FAILED)
