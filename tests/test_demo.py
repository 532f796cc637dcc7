"""`make demo` keeps its promise: the printed commands answer what they say (the
``flask claimguard mint`` ones too), the development issuer is labelled and keeps its
keys and URL across a restart, and Ctrl-C stops everything it started.

Each demo here keeps its development issuer's key file beside its database, in a
temporary folder (``EXAMPLE_API_DEV_ISSUER_FILE``), never in the repository's
``instance/``."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from example_server import ROOT
from example_server import free_port

TIMEOUT = 10
KEY_FILE = "claimguard-dev-issuer.json"


def demo_environment(port: int, database: Path, **env: str) -> dict[str, str]:
    """The demo's environment: its port, its database and key file beside each other,
    and no issuer of the caller's."""
    environ = {
        **os.environ,
        "EXAMPLE_API_PORT": str(port),
        "EXAMPLE_API_DATABASE": str(database),
        "EXAMPLE_API_DEV_ISSUER_FILE": str(database.parent / KEY_FILE),
    }
    for name in list(environ):
        if name.startswith("CLAIMGUARD_"):
            del environ[name]
    environ.update(env)
    return environ


def start_demo(port: int, database: Path, **env: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Run the demo until it prints its last line; return the process and its output."""
    environ = demo_environment(port, database, **env)
    process = subprocess.Popen(
        [sys.executable, "-m", "example_api.demo"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        output.append(line)
        if "Press Ctrl-C" in line or "Press Ctrl-C to stop it" in line:
            return process, output
    stop(process)
    pytest.fail("the demo did not print its commands in time:\n" + "".join(output[-40:]))


def _group_members(pgid: int) -> list[str]:
    found = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True)
    return found.stdout.split()


def stop(process: subprocess.Popen[str]) -> int:
    """Ctrl-C the demo; return its exit status once it and everything it started ended.

    The demo runs in its own process group (``start_new_session``), so whatever it
    leaves behind is found there, killed, and reported: a child that outlived the demo
    would otherwise hold the output pipe open and block the reader forever.
    """
    process.send_signal(signal.SIGINT)
    try:
        status = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        status = None
    deadline = time.monotonic() + 5
    left = _group_members(process.pid)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _group_members(process.pid)
    if left or status is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()
    assert status is not None, "the demo did not stop within 30 s of Ctrl-C"
    assert not left, f"Ctrl-C left processes of the demo running: {left}"
    return status


def test_demo_commands_answer_what_they_promise(tmp_path: Path) -> None:
    port = free_port()
    process, output = start_demo(port, tmp_path / "demo.sqlite3")
    text = "".join(output)
    try:
        assert "DEVELOPMENT ISSUER" in text
        assert "NEVER FOR PRODUCTION" in text
        tokens = dict(re.findall(r"export (\w+)_TOKEN='([^']+)'", text))
        assert set(tokens) == {"VIEWER", "EDITOR", "ADMIN"}
        product = re.search(r"/products/(\d+)", text)
        assert product is not None
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/products/{product.group(1)}"

        def auth(role: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[role]}"}

        assert requests.get(f"{base}/products", timeout=TIMEOUT).status_code == 401
        assert requests.get(url, headers=auth("VIEWER"), timeout=TIMEOUT).status_code == 200
        denied = requests.post(
            f"{base}/products",
            json={"name": "Mug", "price": 9.5},
            headers=auth("VIEWER"),
            timeout=TIMEOUT,
        )
        assert denied.status_code == 403
        created = requests.post(
            f"{base}/products",
            json={"name": "Mug", "price": 9.5},
            headers=auth("EDITOR"),
            timeout=TIMEOUT,
        )
        assert created.status_code == 201
        # The printed conditional change: 200 with the seeded product's ETag, then 412.
        if_match = re.search(r"-H 'If-Match: (\"[^\"]+\")'", text)
        assert if_match is not None
        read = requests.get(url, headers=auth("VIEWER"), timeout=TIMEOUT)
        assert read.headers["ETag"] == if_match.group(1)
        conditional = {**auth("EDITOR"), "If-Match": if_match.group(1)}
        patched = requests.patch(url, json={"stock": 3}, headers=conditional, timeout=TIMEOUT)
        assert patched.status_code == 200
        assert patched.headers["ETag"] != if_match.group(1)
        stale = requests.patch(url, json={"stock": 3}, headers=conditional, timeout=TIMEOUT)
        assert (stale.status_code, stale.json()["error"]) == (412, "precondition_failed")
        assert requests.delete(url, headers=auth("EDITOR"), timeout=TIMEOUT).status_code == 403
        assert requests.delete(url, headers=auth("ADMIN"), timeout=TIMEOUT).status_code == 204
    finally:
        assert stop(process) == 0
    # Ctrl-C stopped the API too: nothing answers on its port any more.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_demo_never_starts_the_development_issuer_when_one_is_configured(
    tmp_path: Path,
) -> None:
    port = free_port()
    process, output = start_demo(
        port,
        tmp_path / "demo.sqlite3",
        CLAIMGUARD_DOMAIN="tenant.example.com",
        CLAIMGUARD_AUDIENCE="https://products.example.com",
    )
    text = "".join(output)
    try:
        assert "NOT started" in text
        assert "DEVELOPMENT ISSUER —" not in text
        assert "export VIEWER_TOKEN" not in text
    finally:
        assert stop(process) == 0


def test_demo_output_says_why_a_request_was_refused(tmp_path: Path) -> None:
    """claimguard's refusal lines, with their reasons, reach the demo's own output: the
    gunicorn workers log them to stderr (``EXAMPLE_API_LOG_LEVEL=INFO``, set by the demo).

    The output goes to a file here, read after the demo stopped, so that every line the
    workers wrote is there.
    """
    port = free_port()
    output_file = tmp_path / "demo.out"
    environ = demo_environment(port, tmp_path / "demo.sqlite3")
    environ.pop("EXAMPLE_API_LOG_LEVEL", None)
    with output_file.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "example_api.demo"],
            cwd=ROOT,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    # A worker's log line: "[date] [pid] [INFO] claimguard: refused GET "/products": 401 …"
    refusal = re.compile(r'\[[^]]+\] \[\d+\] \[INFO\] claimguard: refused GET "/products": 401 ')

    def refusals() -> list[str]:
        return [line for line in output_file.read_text().splitlines() if refusal.match(line)]

    try:
        deadline = time.monotonic() + 40
        while "Press Ctrl-C" not in output_file.read_text():
            assert process.poll() is None, output_file.read_text()
            assert time.monotonic() < deadline, "the demo did not print its commands in time"
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/products", timeout=TIMEOUT).status_code == 401
        malformed = {"Authorization": "Bearer not-a-token"}
        refused = requests.get(f"{base}/products", headers=malformed, timeout=TIMEOUT)
        assert refused.status_code == 401
        deadline = time.monotonic() + TIMEOUT
        while len(refusals()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        assert stop(process) == 0
    text = output_file.read_text()
    assert "Why the API refuses a request appears below" in text
    no_token, bad_token = refusals()
    assert "no Authorization header" in no_token
    assert "not-a-token" not in bad_token  # the reason, never the token itself


def run_printed(text: str, variable: str, database: Path) -> str:
    """Run the command the demo printed as ``VARIABLE=$(command)``, as pasted from the
    repository root; what it printed."""
    found = re.search(rf"^{variable}=\$\((.+?)\)$", text, re.MULTILINE | re.DOTALL)
    assert found is not None, f"the demo printed no {variable}=$(...)"
    # A second terminal: none of the demo's environment, the app's database aside.
    environ = demo_environment(0, database)
    done = subprocess.run(
        ["/bin/sh", "-c", found.group(1)],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_mint_as_printed_and_a_restart_that_keeps_the_issuer(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "demo.sqlite3"
    process, output = start_demo(port, database)
    text = "".join(output)
    base = f"http://127.0.0.1:{port}"
    try:
        assert "claimguard mint --role admin" in text
        minted = run_printed(text, "MINTED_TOKEN", tmp_path / "mint.sqlite3")
        expired = run_printed(text, "EXPIRED_TOKEN", tmp_path / "mint.sqlite3")
        answer = requests.get(
            f"{base}/products", headers={"Authorization": f"Bearer {minted}"}, timeout=TIMEOUT
        )
        assert answer.status_code == 200
        refused = requests.get(
            f"{base}/products", headers={"Authorization": f"Bearer {expired}"}, timeout=TIMEOUT
        )
        assert refused.status_code == 401
        assert "The access token expired." in refused.headers["WWW-Authenticate"]
    finally:
        assert stop(process) == 0
    key_file = tmp_path / KEY_FILE
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    issuer = re.search(r"!! (http://127\.0\.0\.1:\d+/) signs any token", text)
    assert issuer is not None

    process, output = start_demo(port, database)
    try:
        assert issuer.group(0) in "".join(output)  # the same URL, so the same iss
        for token in (minted, re.findall(r"export ADMIN_TOKEN='([^']+)'", text)[0]):
            again = requests.get(
                f"{base}/products", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
            )
            assert again.status_code == 200
    finally:
        assert stop(process) == 0


def test_a_key_file_others_can_read_stops_the_demo(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_FILE
    key_file.write_text("{}")
    key_file.chmod(0o644)
    done = subprocess.run(
        [sys.executable, "-m", "example_api.demo"],
        cwd=ROOT,
        env=demo_environment(free_port(), tmp_path / "demo.sqlite3"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "key file cannot be used" in done.stdout
    assert "mode 0644" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
