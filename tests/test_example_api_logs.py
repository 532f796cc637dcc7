"""example_api's logging switch: ``EXAMPLE_API_LOG_LEVEL`` sends claimguard's refusal
reasons to stderr (``make demo`` sets it; tests/test_demo.py checks the demo's output)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from example_api.logs import LOGGERS
from example_api.logs import configure_from_environment


@pytest.fixture(autouse=True)
def restore_loggers() -> Iterator[None]:
    saved = {
        name: (logging.getLogger(name).level, logging.getLogger(name).handlers[:])
        for name in LOGGERS
    }
    yield
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers


def ours(name: str) -> list[logging.Handler]:
    return [h for h in logging.getLogger(name).handlers if h.get_name() == "example_api.stderr"]


def test_unset_changes_nothing() -> None:
    configure_from_environment({})
    configure_from_environment({"EXAMPLE_API_LOG_LEVEL": " "})
    assert all(not ours(name) for name in LOGGERS)


def test_level_and_one_handler_per_process() -> None:
    for _ in range(3):  # one app per test, several tests per process
        configure_from_environment({"EXAMPLE_API_LOG_LEVEL": "info"})
    for name in LOGGERS:
        assert logging.getLogger(name).level == logging.INFO
        assert len(ours(name)) == 1
    handler = ours("claimguard")[0]
    assert isinstance(handler, logging.StreamHandler)
    record = logging.LogRecord("claimguard", logging.INFO, __file__, 1, "refused %s", ("x",), None)
    formatted = handler.format(record)
    assert formatted.endswith("[INFO] claimguard: refused x")


def test_a_typo_is_an_error() -> None:
    with pytest.raises(ValueError, match="EXAMPLE_API_LOG_LEVEL must be one of DEBUG, INFO"):
        configure_from_environment({"EXAMPLE_API_LOG_LEVEL": "INOF"})
