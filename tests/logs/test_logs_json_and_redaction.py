"""Log lines: JSON shape, context binding, structured exceptions, secret redaction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog

from continuum.logs import REDACTED, bind_context, configure_logging, get_logger


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    yield stream
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_one_json_object_with_timestamp_level_logger_event(
    out: io.StringIO,
) -> None:
    log = get_logger("continuum.test")
    log.info("lease renewed", generation=7)
    log.warning("second line")
    first, second = _lines(out)
    assert first["event"] == "lease renewed"
    assert first["level"] == "info"
    assert first["logger"] == "continuum.test"
    assert first["generation"] == 7
    assert second["level"] == "warning"
    stamp = first["timestamp"]
    assert stamp.endswith("Z")
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0)


def test_level_filter_drops_lines_below_the_configured_level() -> None:
    stream = io.StringIO()
    configure_logging(level="WARNING", stream=stream)
    try:
        get_logger("x").info("hidden")
        get_logger("x").error("shown")
        assert [line["event"] for line in _lines(stream)] == ["shown"]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_unknown_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(level="loud")
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging(fmt="xml")  # type: ignore[arg-type]


def test_bound_context_appears_on_every_line_inside_the_block_only(out: io.StringIO) -> None:
    log = get_logger("continuum.actor")
    with bind_context(continuum="acme/shop-dr", region="region-a"):
        log.info("outer")
        with bind_context(step="flip-dns", epoch=12):
            log.info("inner")
        log.info("outer again")
    log.info("outside")
    outer, inner, again, outside = _lines(out)
    assert outer["continuum"] == "acme/shop-dr"
    assert outer["region"] == "region-a"
    assert "step" not in outer
    assert (inner["step"], inner["epoch"], inner["continuum"]) == ("flip-dns", 12, "acme/shop-dr")
    assert "step" not in again
    assert "continuum" not in outside


@pytest.mark.parametrize(
    "key",
    [
        "authorization",
        "Authorization",
        "token",
        "password",
        "promotionToken",
        "demotionToken",
        "api_token",
        "client_secret",
        "bearerToken",
        "webhookSecret",
    ],
)
def test_secret_keys_are_redacted(out: io.StringIO, key: str) -> None:
    get_logger("t").info("call", **{key: "s3cr3t"})
    (line,) = _lines(out)
    assert line[key] == REDACTED
    assert "s3cr3t" not in out.getvalue()


def test_secrets_nested_in_dicts_and_lists_are_redacted(out: io.StringIO) -> None:
    get_logger("t").info(
        "request",
        headers={"Authorization": "Bearer abc", "Accept": "json"},
        clusters=[{"name": "pg-a", "status": {"demotionToken": "tok-1"}}],
    )
    (line,) = _lines(out)
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert line["clusters"][0]["status"]["demotionToken"] == REDACTED
    assert line["clusters"][0]["name"] == "pg-a"
    assert "abc" not in out.getvalue()
    assert "tok-1" not in out.getvalue()


def test_non_secret_keys_are_untouched(out: io.StringIO) -> None:
    get_logger("t").info("x", token_count=3, tokenizer="ws", holder="region-a")
    (line,) = _lines(out)
    assert (line["token_count"], line["tokenizer"], line["holder"]) == (3, "ws", "region-a")


def test_exceptions_are_structured_data_without_frame_locals(out: io.StringIO) -> None:
    password = "hunter2"  # a local that must never be rendered
    try:
        raise RuntimeError(f"cannot connect (len {len(password)})")
    except RuntimeError:
        get_logger("t").exception("renew failed")
    (line,) = _lines(out)
    (exc,) = line["exception"]
    assert exc["exc_type"] == "RuntimeError"
    assert exc["exc_value"] == "cannot connect (len 7)"
    assert exc["frames"]
    assert "locals" not in exc["frames"][-1]
    assert "hunter2" not in out.getvalue()


def test_standard_library_logs_are_rendered_as_the_same_json(out: io.StringIO) -> None:
    logging.getLogger("nats.aio.client").warning("reconnecting to %s", "nats://x")
    (line,) = _lines(out)
    assert line["event"] == "reconnecting to nats://x"
    assert line["logger"] == "nats.aio.client"
    assert line["level"] == "warning"
    assert "timestamp" in line


def test_console_format_is_human_readable_not_json() -> None:
    stream = io.StringIO()
    configure_logging(fmt="console", stream=stream)
    try:
        with bind_context(continuum="acme/x"):
            get_logger("t").info("hello", password="pw")
        text = stream.getvalue()
        assert "hello" in text
        assert "continuum=acme/x" in text
        assert "pw" not in text.replace("password", "")
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_logger_created_at_import_time_follows_a_later_configuration() -> None:
    early = get_logger("continuum.early", component="x")
    buf = io.StringIO()
    configure_logging(stream=buf)
    early.info("after_configure")
    early.bind(step="s").info("bound_after_configure")
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["after_configure", "bound_after_configure"]
    assert lines[0]["logger"] == "continuum.early"
    assert lines[0]["component"] == "x"
    assert lines[1]["step"] == "s"
