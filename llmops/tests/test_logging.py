import json
import logging

from llmops.core.logging import JSONFormatter, RequestIDFilter, install_record_factory
from llmops.core.request_context import log_context, request_id_var


def test_json_lines_carry_request_run_and_experiment_ids():
    install_record_factory()
    formatter = JSONFormatter()
    token = request_id_var.set("req-abc-123")
    try:
        with log_context(run_id="run-1", experiment_id="exp-9"):
            record = logging.getLogger("llmops.test").makeRecord(
                "llmops.test", logging.INFO, __file__, 1, "hello %s", ("world",), None
            )
        outside = logging.getLogger("llmops.test").makeRecord("llmops.test", logging.INFO, __file__, 1, "bye", (), None)
    finally:
        request_id_var.reset(token)
    RequestIDFilter().filter(record)
    line = json.loads(formatter.format(record))
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "llmops.test",
        "message": "hello world",
        "request_id": "req-abc-123",
        "run_id": "run-1",
        "experiment_id": "exp-9",
    }
    assert "run_id" not in json.loads(formatter.format(outside))
