"""``llmops``: the platform's command line over HTTP (CI gates, prompts as code, golden examples).

    llmops experiment run --prompt NAME --versions 2,3 --scorer exact --fail-under 0.85 --fail-if-worse-than 3 --wait
    llmops prompt pull NAME [--label L | --version N] [--output FILE]
    llmops prompt push FILE
    llmops goldens import FILE --prompt NAME
    llmops goldens export --prompt NAME [--format csv] [--output FILE]

The server and key come from ``--url``/``--key`` or ``LLMOPS_URL``/``LLMOPS_API_KEY``. ``experiment run``
has the gates, exit codes and table of ``manage.py run_experiment``: 0 every gate passed; 1 a gate failed,
the experiment failed or was cancelled, or it could not be started; 2 ``--timeout`` passed first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO
from xml.etree import ElementTree

from . import gates, promptfile
from .client import ExperimentTimeout, LLMOps, parse_scorer
from .errors import APIError, LLMOpsError

EXIT_FAILED = 1
EXIT_TIMEOUT = 2


class CommandFailed(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``llmops`` console script; returns the exit code."""
    parser = _parser()
    options = parser.parse_args(argv)
    if not getattr(options, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_FAILED
    try:
        client = LLMOps(options.url, options.key, timeout=options.http_timeout)
    except LLMOpsError as error:
        print(f"Error: {error}", file=sys.stderr)
        return EXIT_FAILED
    try:
        with client:
            options.handler(client, options, sys.stdout, sys.stderr)
    except CommandFailed as error:
        print(f"Error: {error}", file=sys.stderr)
        return error.code
    except (LLMOpsError, OSError, ValueError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmops", description="The LLMOps platform over HTTP.")
    _connection_options(parser, default=None)
    # The same options are accepted after the command too (`llmops prompt pull x --url ...`).
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, default=argparse.SUPPRESS)
    groups = parser.add_subparsers(dest="group")

    experiment = groups.add_parser("experiment", help="experiments").add_subparsers(dest="command")
    run = experiment.add_parser("run", help="run an experiment and gate on its result (for CI)", parents=[common])
    run.add_argument("--prompt", required=True, help="prompt name")
    run.add_argument("--versions", help="comma-separated version numbers (default: every version)")
    run.add_argument("--name", help="experiment name (default: '<prompt> from the command line')")
    run.add_argument(
        "--scorer",
        action="append",
        default=[],
        help="name[:key=value,...], repeatable; the first is the primary scorer (default: exact)",
    )
    run.add_argument("--repeats", type=int, default=1)
    run.add_argument("--concurrency", type=int, default=4)
    run.add_argument("--split", help="only goldens of this split (train, validation, test)")
    run.add_argument("--tag", action="append", default=[], help="only goldens with this tag (repeatable)")
    run.add_argument("--model-endpoint", help="endpoint id or name (default: each version's own)")
    run.add_argument("--cache", action="store_true", help="reuse identical earlier answers")
    run.add_argument("--wait", action="store_true", help="wait for the result, show progress, apply gates")
    run.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (exit 2 after)")
    run.add_argument("--poll", type=float, default=1.0, help="seconds between progress checks")
    run.add_argument("--fail-under", type=float, help="fail when the newest version's primary mean is lower")
    run.add_argument(
        "--fail-if-worse-than", type=int, metavar="VERSION", help="fail when the newest version is significantly worse"
    )
    run.add_argument("--format", choices=["table", "json"], default="table")
    run.add_argument("--json", action="store_const", const="json", dest="format", help="same as --format json")
    run.add_argument("--junit", metavar="FILE", help="also write the gates as JUnit XML to FILE")
    run.set_defaults(handler=experiment_run)

    prompt = groups.add_parser("prompt", help="prompts as code").add_subparsers(dest="command")
    pull = prompt.add_parser(
        "pull", help="write a prompt version (default: the latest) as YAML or JSON", parents=[common]
    )
    pull.add_argument("name", help="prompt name")
    which = pull.add_mutually_exclusive_group()
    which.add_argument("--label", help="version this label points at")
    which.add_argument("--version", type=int, help="version number")
    pull.add_argument("--output", help="file to write; default: stdout")
    pull.add_argument("--format", choices=promptfile.FORMATS, help="default: from --output's extension, else yaml")
    pull.set_defaults(handler=prompt_pull)
    push = prompt.add_parser(
        "push", help="create a prompt (or its next version) from a file; unchanged is a no-op", parents=[common]
    )
    push.add_argument("file", help="path of the prompt file, or - for stdin")
    push.add_argument("--format", choices=promptfile.FORMATS, help="default: from the extension, else yaml")
    push.set_defaults(handler=prompt_push)

    goldens = groups.add_parser("goldens", help="golden examples").add_subparsers(dest="command")
    load = goldens.add_parser(
        "import", help="import golden examples from JSONL or CSV (- reads stdin)", parents=[common]
    )
    load.add_argument("file")
    load.add_argument("--prompt", required=True, help="prompt name or id")
    load.add_argument("--format", choices=["jsonl", "csv"], help="default: from the extension, else jsonl")
    load.set_defaults(handler=goldens_import)
    dump = goldens.add_parser("export", help="export golden examples as JSONL or CSV", parents=[common])
    dump.add_argument("--prompt", required=True, help="prompt name or id")
    dump.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    dump.add_argument("--split")
    dump.add_argument("--tag")
    dump.add_argument("--output", help="file to write; default: stdout")
    dump.set_defaults(handler=goldens_export)
    return parser


def _connection_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    def env(name: str) -> object:
        return os.environ.get(name) if default is None else default

    parser.add_argument("--url", default=env("LLMOPS_URL"), help="platform address (default: LLMOPS_URL)")
    parser.add_argument("--key", default=env("LLMOPS_API_KEY"), help="API key (default: LLMOPS_API_KEY)")
    parser.add_argument(
        "--http-timeout", type=float, default=30.0 if default is None else default, help="seconds per HTTP request"
    )


# ---------------------------------------------------------------------------- experiment run


def experiment_run(client: LLMOps, options: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    gated = options.fail_under is not None or options.fail_if_worse_than is not None
    if gated and not options.wait:
        raise CommandFailed("--fail-under and --fail-if-worse-than need --wait")
    versions = _versions(options.versions)
    try:
        scorers = [parse_scorer(spec) for spec in options.scorer] or None
    except ValueError as error:
        raise CommandFailed(f"cannot start the experiment: scorers: {error}") from None
    prompt_id = _prompt_id(client, options.prompt)
    if options.fail_if_worse_than is not None:
        tested = versions or client.prompt_versions(prompt_id)
        baseline = options.fail_if_worse_than
        if baseline not in tested or baseline == max(tested):
            raise CommandFailed(
                f"--fail-if-worse-than {baseline} must name a tested version older than the newest ({max(tested)})"
            )
    try:
        started = client.start_experiment(
            prompt_id,
            name=options.name or f"{options.prompt} from the command line",
            versions=versions,
            scorers=scorers,
            repeats=options.repeats,
            concurrency=options.concurrency,
            split=options.split,
            tags=options.tag,
            model_endpoint=options.model_endpoint,
            cache=options.cache,
        )
    except APIError as error:
        where = f"{error.param}: " if error.param else ""
        raise CommandFailed(f"cannot start the experiment: {where}{error.message}") from None
    experiment_id = str(started["experiment_id"])
    print(f"Experiment {experiment_id} started: {started['total_cells']} cells.", file=err)
    if not options.wait:
        print(experiment_id, file=out)
        return
    bar = ProgressBar(total=int(started["total_cells"]), stream=err)
    try:
        client.wait_experiment(experiment_id, timeout=options.timeout, poll=options.poll, on_progress=bar.update)
    except ExperimentTimeout as timeout:
        bar.close()
        progress = timeout.experiment["progress"]
        done = progress["completed"] + progress["failed"] + progress["cancelled"]
        _write_junit(options.junit, None, [gates.Gate(False, "timed out")], experiment_id=experiment_id)
        raise CommandFailed(
            f"timed out after {options.timeout:g} s; experiment {experiment_id} is still "
            f"{timeout.experiment['status']} ({done} of {progress['total']} cells done) and goes on running",
            code=EXIT_TIMEOUT,
        ) from None
    bar.close()
    report = client.experiment_report(experiment_id)
    if options.format == "json":
        out.write(client.experiment_export(experiment_id, format="json"))
    else:
        print(gates.comparison_table(report), file=out)
    results = _gates(report, options)
    for gate in results:
        print(f"{'PASS' if gate.passed else 'FAIL'}: {gate.message}", file=err)
    # JUnit always has the experiment's own outcome as a test case, then one per gate.
    status = gates.Gate(report["status"] == "completed", f"the experiment {report['status']}")
    _write_junit(
        options.junit, report, [status, *(gate for gate in results if gate != status)], experiment_id=experiment_id
    )
    failed = [gate.message for gate in results if not gate.passed]
    if failed:
        raise CommandFailed("; ".join(failed))


def _gates(report: dict[str, Any], options: argparse.Namespace) -> list[gates.Gate]:
    results: list[gates.Gate] = []
    if report["status"] != "completed":
        results.append(gates.Gate(False, f"the experiment {report['status']}"))
    if options.fail_under is not None:
        results.append(gates.fail_under(report, score=options.fail_under))
    if options.fail_if_worse_than is not None:
        results.append(gates.fail_if_worse_than(report, baseline=options.fail_if_worse_than))
    return results


def _versions(raw: str | None) -> list[int] | None:
    if not raw:
        return None
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise CommandFailed(f"--versions must be comma-separated version numbers, not '{raw}'") from None


def _prompt_id(client: LLMOps, name: str) -> str:
    try:
        return client.prompt_id(name)
    except APIError as error:
        if error.status == 404:
            raise CommandFailed(f"no prompt '{name}' in this project") from None
        raise


def _write_junit(
    path: str | None, report: dict[str, Any] | None, results: list[gates.Gate], *, experiment_id: str
) -> None:
    """One test suite, one test case per gate (a failed gate is a ``<failure>``), the table as system-out."""
    if not path:
        return
    failures = sum(1 for gate in results if not gate.passed)
    suite = ElementTree.Element(
        "testsuite",
        name=f"llmops experiment {report['name'] if report else experiment_id}",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
    )
    properties = ElementTree.SubElement(suite, "properties")
    ElementTree.SubElement(properties, "property", name="experiment_id", value=experiment_id)
    for index, gate in enumerate(results, start=1):
        case = ElementTree.SubElement(suite, "testcase", classname="llmops.gates", name=f"gate {index}: {gate.message}")
        if not gate.passed:
            ElementTree.SubElement(case, "failure", message=gate.message).text = gate.message
    if report is not None:
        ElementTree.SubElement(suite, "system-out").text = gates.comparison_table(report)
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


class ProgressBar:
    """Cells done of the total on stderr: a bar redrawn in place on a terminal; in a log (CI), a line each
    time the count changes, at most every ``log_every`` seconds, and the final count."""

    width = 30

    def __init__(self, *, total: int, stream: TextIO, log_every: float = 10.0) -> None:
        self.total = max(total, 0)
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.log_every = log_every
        self.line = ""
        self.logged_at = 0.0
        self.logged_line = ""

    def update(self, experiment: dict[str, Any]) -> None:
        progress = experiment["progress"]
        done = progress["completed"] + progress["failed"] + progress["cancelled"]
        total = progress.get("total") or self.total
        self.line = f"{done}/{total} cells, failed={progress['failed']}, cached={progress['cached']}"
        if self.tty:
            filled = int(self.width * done / total) if total else self.width
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.line}")
            self.stream.flush()
        elif self.line != self.logged_line and time.monotonic() - self.logged_at >= self.log_every:
            self._log()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
        elif self.line and self.line != self.logged_line:
            self._log()
        self.stream.flush()

    def _log(self) -> None:
        print(self.line, file=self.stream)
        self.logged_line, self.logged_at = self.line, time.monotonic()


# ---------------------------------------------------------------------------- prompts as code


def prompt_pull(client: LLMOps, options: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    # The default is the newest version, as manage.py prompt_pull: a file in git is the head of the prompt.
    label = options.label if options.label is not None or options.version is not None else "latest"
    resolved = client.get_prompt(options.name, label=label, version=options.version, cache=False)
    detail = client.prompt_detail(str(resolved.prompt_id))
    version = SimpleNamespace(
        prompt=SimpleNamespace(name=resolved.name, description=detail["description"], tags=detail["tags"]),
        kind=resolved.kind,
        template_format=resolved.template_format,
        template=resolved.template,
        messages=resolved.messages,
        model_settings=resolved.model_settings,
        variables_schema=resolved.variables_schema,
        commit_message=resolved.commit_message,
    )
    text = promptfile.dumps(
        promptfile.to_document(version, labels=sorted(resolved.labels)),  # type: ignore[arg-type]
        file_format=promptfile.format_for(options.output, options.format),
    )
    if options.output:
        Path(options.output).write_text(text, encoding="utf-8")
        print(f"{options.name} v{resolved.version} written to {options.output}", file=err)
    else:
        out.write(text)


def prompt_push(client: LLMOps, options: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    file = options.file
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        data = promptfile.loads(text, file_format=promptfile.format_for(file, options.format))
    except (OSError, promptfile.PromptFileError) as error:
        raise CommandFailed(f"{file}: {error}") from None
    try:
        _push(client, data, out)
    except APIError as error:
        where = f" ({error.param})" if error.param else ""
        raise CommandFailed(f"{file}: {error.message}{where}") from None


def _push(client: LLMOps, data: dict[str, Any], out: TextIO) -> None:
    name = data.pop("name")
    description, tags = data.pop("description", None), data.pop("tags", None)
    data = {key: value for key, value in data.items() if value is not None or key == "variables_schema"}
    try:
        prompt_id = client.prompt_id(name)
    except APIError as error:
        if error.status != 404:
            raise
        client.create_prompt(name=name, description=description or "", tags=tags or [], **data)
        print(f"{name}: created version 1", file=out)
        return
    detail = client.prompt_detail(prompt_id)
    changes: dict[str, Any] = {}
    if description is not None and description != detail["description"]:
        changes["description"] = description
    if tags is not None and list(tags) != detail["tags"]:
        changes["tags"] = list(tags)
    if changes:
        client.update_prompt(prompt_id, **changes)
        print(f"{name}: updated description/tags", file=out)
    labels = list(data.get("labels") or [])
    before = client.prompt_labels(prompt_id) if labels else {}
    version, created = client.create_version(prompt_id, **data)
    number = version["version"]
    print(f"{name}: created version {number}" if created else f"{name}: unchanged (version {number})", file=out)
    for label in labels:
        if before.get(label) != number:
            print(f"{name}: label {label} -> v{number}", file=out)


# ---------------------------------------------------------------------------- golden examples


def goldens_import(client: LLMOps, options: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    if options.file == "-":
        content: str | Path = sys.stdin.read()
        file_format = options.format or "jsonl"
    else:
        content = Path(options.file)
        file_format = options.format or ("csv" if content.suffix.lower() == ".csv" else "jsonl")
    try:
        created = client.import_goldens(options.prompt, content, format=file_format)
    except APIError as error:
        where = f" ({error.param})" if error.param else ""
        raise CommandFailed(f"{options.file}: {error.message}{where}") from None
    print(f"{options.prompt}: imported {created} golden examples", file=out)


def goldens_export(client: LLMOps, options: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    text = client.export_goldens(options.prompt, format=options.format, split=options.split, tag=options.tag)
    if options.output:
        Path(options.output).write_text(text, encoding="utf-8")
        print(f"{options.prompt}: golden examples written to {options.output}", file=err)
    else:
        out.write(text)


if __name__ == "__main__":
    sys.exit(main())
