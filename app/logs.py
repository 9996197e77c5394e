"""Where log records go, and how they read.

Sticky logs events, not sentences: `log.warning("http.retry", extra={"url": ..., "status":
503, "wait": 1.2})`. The event name is the message and stays stable, so logs can be searched
and counted; the context travels in `extra`. Nothing is configured on import: a process
chooses its output once, through `configure_logging`.

- `EventFormatter`, for processes whose output is a log (the worker): one line per event with
  its fields, `2026-12-01 10:00:00,123 WARNING connectors.http http.retry url=... status=503`.
  Python's default formatting printed the bare event name and dropped every field.
- `ConsoleFormatter`, for a person running a CLI command: a sentence for the events such a
  person meets (`EVENT_TEXT`), nothing for the ones the command reports itself, and for any
  other event its name in words with its fields; never a traceback.

Fields must never carry secrets (tokens, keys, passwords): the code that logs sees to that.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}
_HANDLER_MARK = "_sticky_handler"

# Sentences for the events a CLI user meets. None: the command itself reports the outcome
# (e.g. "Shopify refused this token"), so the event would only repeat it.
EVENT_TEXT: dict[str, str | None] = {
    "http.transport_retry": "could not reach {url}; trying again in {wait:.1f} s",
    "http.retry": "{url} answered {status}; trying again in {wait:.1f} s",
    "shopify.admin.unauthorized": None,
    "shopify.admin.throttled": "Shopify is throttling {shop}; waiting {wait} s",
    "shopify.admin.bad_cost_extension": None,
    "shopify.backfill.bad_record": "skipped a record from {shop} that Sticky cannot read "
                                   "({node}: {error})",
    "shopify.backfill.bad_cursor": "could not resume the history import where it stopped; "
                                   "starting it over",
    "shopify.backfill.operation_gone": "Shopify no longer has the export this import was "
                                       "reading ({status}); starting a new one",
    "shopify.reconcile.bad_record": "skipped a record from {shop} that Sticky cannot read "
                                    "({node}: {error})",
    "shopify.token.refresh_failed": "could not refresh the Admin API token of {shop} ({code})",
    "sync.batch_retry": "store {shop_id}: another writer held the store; trying the batch "
                        "again (attempt {attempt})",
    "sync.backfill.failed": None,
    "woocommerce.webhook.recreating": "recreating the {topic} webhook (it was {status})",
    "woocommerce.webhook.create_refused": None,  # `shops add` lists the refused topics
    "inbox.enqueue_failed": "could not queue store {shop_id} for processing (is Redis "
                            "running?); a worker's sweep will pick it up",
}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items()
            if k not in _RECORD_ATTRIBUTES and not k.startswith("_")}


def _value(value: Any) -> str:
    text = str(value)
    return repr(text) if not text or any(c.isspace() or c in "=\"'" for c in text) else text


class EventFormatter(logging.Formatter):
    """`time LEVEL logger event key=value ...`, tracebacks as usual."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        return line


class ConsoleFormatter(logging.Formatter):
    """`warning: <a sentence>` for a person at a terminal; see the module docstring."""

    def format(self, record: logging.LogRecord) -> str:
        event = record.getMessage()
        fields = _fields(record)
        text = EVENT_TEXT.get(event, "")
        sentence = None
        if text:
            try:
                sentence = text.format(**fields)
            except (KeyError, IndexError, ValueError):
                sentence = None  # fields differ from what the sentence expects: say it plainly
        if sentence is None:
            sentence = event.replace("_", " ").replace(".", ": ", 1).replace(".", " ")
            if fields:
                sentence += " (" + ", ".join(f"{k}={_value(v)}" for k, v in fields.items()) + ")"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            sentence += f": {type(exc).__name__}: {exc}" if str(exc) else f": {type(exc).__name__}"
        return f"{record.levelname.lower()}: {sentence}"


def _not_silenced(record: logging.LogRecord) -> bool:
    event = record.getMessage()
    return not (event in EVENT_TEXT and EVENT_TEXT[event] is None)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (click's test runner swaps it)."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        if isinstance(formatter, ConsoleFormatter):
            self.addFilter(_not_silenced)
        setattr(self, _HANDLER_MARK, True)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(*, console: bool, level: int = logging.WARNING) -> None:
    """Send log records to stderr, for a person (`console=True`: CLI commands) or as a log
    (`console=False`: the worker), from `level` up. Calling it again replaces what an
    earlier call set up; handlers others installed (pytest's, gunicorn's) are left alone."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    root.addHandler(_StderrHandler(ConsoleFormatter() if console else EventFormatter()))
    root.setLevel(level)
