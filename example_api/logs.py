"""example_api's logging: claimguard's reasons for refusing a request, on stderr.

claimguard logs each refusal at INFO on the ``claimguard`` logger (``refused GET
"/products": 401 …: no Authorization header``), and Python shows only WARNING and above
unless told otherwise. With ``EXAMPLE_API_LOG_LEVEL`` set (``INFO``, ``DEBUG``,
``WARNING`` …), :func:`configure_from_environment` sends the ``claimguard`` and
``example_api`` loggers at that level to stderr, in gunicorn's format plus the logger's
name. ``make demo`` sets ``INFO``.

Each gunicorn worker builds its own app, so each configures its own logging here; the
handler is added once per process however many apps it builds (as the tests do). The
records still propagate: a host that also logs the root logger to stderr shows them twice,
and pytest's log capture keeps working.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

__all__ = ["LEVEL_VARIABLE", "configure_from_environment"]

#: The environment variable that turns the logging on, with its level as the value.
LEVEL_VARIABLE = "EXAMPLE_API_LOG_LEVEL"

#: gunicorn's error-log format, with the name of the logger before the message.
FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"

LOGGERS = ("claimguard", "example_api")
_HANDLER_NAME = "example_api.stderr"
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def configure_from_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Log ``claimguard`` and ``example_api`` to stderr at ``EXAMPLE_API_LOG_LEVEL``.

    Unset or empty: nothing changes (the loggers keep whatever the host configured).

    :raises ValueError: the variable names no logging level; a typo must not silently
        leave the reasons hidden.
    """
    level = environ.get(LEVEL_VARIABLE, "").strip().upper()
    if not level:
        return
    if level not in _LEVELS:
        raise ValueError(f"{LEVEL_VARIABLE} must be one of {', '.join(_LEVELS)}, got {level!r}")
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(handler.get_name() == _HANDLER_NAME for handler in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.set_name(_HANDLER_NAME)
            handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
            logger.addHandler(handler)
