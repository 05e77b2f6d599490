"""Log record enrichment: every line carries the request id of the request or task it belongs to."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from llmops.core.request_context import current_log_fields, current_request_id


def install_record_factory() -> None:
    """Stamp the request id on every record at creation, whichever handler later sees it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "stamps_request_id", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current_request_id() or "-"
        for name, value in current_log_fields().items():
            setattr(record, name, value)
        return record

    factory.stamps_request_id = True
    logging.setLogRecordFactory(factory)


class RequestIDFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id() or "-"
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    extra_fields = ("request_id", "run_id", "experiment_id", "task_id")

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self.extra_fields:
            value = getattr(record, field, None)
            if value not in (None, "-"):
                payload[field] = str(value)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)
