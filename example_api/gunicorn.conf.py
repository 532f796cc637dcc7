"""gunicorn settings for example_api: ``gunicorn -c example_api/gunicorn.conf.py ...``."""

import os

bind = os.environ.get("EXAMPLE_API_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("EXAMPLE_API_WORKERS", "2"))
threads = int(os.environ.get("EXAMPLE_API_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 10
# claimguard refuses tokens over 8 KiB itself, in JSON with the right RFC 6750 error;
# gunicorn's own limits (8190 bytes per header) sit above that so that claimguard, not
# the server, answers an oversized token.
limit_request_field_size = 32768
limit_request_line = 16384
accesslog = "-" if os.environ.get("EXAMPLE_API_ACCESS_LOG") else None
# No runtime control socket: it would be one fixed path shared by every instance.
control_socket_disable = True


def post_fork(server: object, worker: object) -> None:
    """In each worker, before it builds the app: record its thread count, which sizes
    the PostgreSQL pool (threads + 1, see example_api.config.pool_max_size).

    gunicorn's own setting is read rather than EXAMPLE_API_THREADS, so ``--threads``
    given on the command line counts too. The pool itself is made by the worker's first
    request, never here or in the master: connections must not cross a fork.
    """
    from example_api.config import record_worker_threads

    record_worker_threads(int(worker.cfg.threads))  # type: ignore[attr-defined]
