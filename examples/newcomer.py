"""``make newcomer``: the README's install path, followed the way a newcomer follows it.

In a new temporary folder, with nothing but this checkout and the package index:

1. copy the checkout as a clone would hold it (the files git tracks, plus new files it
   does not ignore), into ``claimguard/``: nothing built or installed here leaks in,
   and the build leaves nothing behind in the checkout;
2. ``python3 -m venv .venv``;
3. ``pip install "./claimguard[testing]"``, as the README's "Install" section says;
4. check that ``import claimguard`` loads the installed copy, not a source tree, and
   that its ``__version__`` is the one in pyproject.toml;
5. start the quickstart app (``python app.py`` in ``claimguard/examples/quickstart``) on
   a free loopback port, send it a request without a token and one with a malformed
   token, and check that both get 401 and that its log says why (``refused GET``);
6. run the quickstart's tests there: ``python -m pytest``.

Each step is timed; the summary goes to stdout, and the script exits non-zero at the
first step that fails, with its output. Only the standard library is used, so that it
runs on the interpreter that creates the virtualenv (``make``'s ``$(PYTHON)``).

Usage: ``python examples/newcomer.py [--keep]`` (``--keep``: leave the folder in place
and print where it is; it is kept after a failure too).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: A domain that cannot resolve: the app is started without ever fetching a key.
OFFLINE_DOMAIN = "newcomer.claimguard.invalid"


class StepFailed(Exception):
    """A step of the newcomer path did not do what the README says it does."""


def run(command: Sequence[str], *, cwd: Path = ROOT, timeout: float = 600) -> str:
    """Run ``command``; its combined output, or :class:`StepFailed` carrying it."""
    done = subprocess.run(  # noqa: S603
        list(command),
        cwd=cwd,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise StepFailed(f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}")
    return done.stdout


def clean_environment() -> dict[str, str]:
    """This environment without what would let the source tree or another virtualenv
    leak into the newcomer's (``PYTHONPATH``, an activated ``VIRTUAL_ENV``)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def copy_checkout(clone: Path) -> str:
    """Copy what a clone of this checkout holds, with its uncommitted changes."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    copied = 0
    for name in dict.fromkeys(listed.split("\0")):
        source = ROOT / name
        if name and source.is_file():  # a tracked file deleted in the work tree is skipped
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
            copied += 1
    return f"{copied} files"


def pyproject_version() -> str:
    found = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    if found is None:
        raise StepFailed("pyproject.toml names no version")
    return found.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def check_installed_copy(python: Path, venv: Path) -> str:
    probe = "import claimguard; print(claimguard.__version__); print(claimguard.__file__)"
    version, location = run([str(python), "-c", probe], cwd=venv).splitlines()
    if not Path(location).resolve().is_relative_to(venv.resolve()):
        raise StepFailed(f"claimguard was imported from {location}, not from the virtualenv")
    if version != pyproject_version():
        raise StepFailed(f"claimguard.__version__ is {version}, not {pyproject_version()}")
    return f"claimguard {version} from {Path(location).parent}"


def run_quickstart_app(python: Path, quickstart: Path, log: Path) -> str:
    """Start ``python app.py``; check that it serves, refuses and logs why."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {**clean_environment(), "PORT": str(port), "AUTH0_DOMAIN": OFFLINE_DOMAIN}
    with log.open("w") as output:
        app = subprocess.Popen(  # noqa: S603
            [str(python), "app.py"], cwd=quickstart, env=environ, stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if app.poll() is not None:
                raise StepFailed(f"python app.py exited with {app.returncode}:\n{log.read_text()}")
            try:
                status = status_of(f"{base}/products")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise StepFailed(f"python app.py did not answer on {base}") from None
                time.sleep(0.1)
        malformed = status_of(f"{base}/products", {"Authorization": "Bearer not-a-token"})
        if (status, malformed) != (401, 401):
            raise StepFailed(f"expected 401 twice, got {status} and {malformed}")
    finally:
        app.terminate()
        try:
            app.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait(timeout=10)
    refusals = [line for line in log.read_text().splitlines() if 'refused GET "/products"' in line]
    if len(refusals) != 2:
        raise StepFailed(f"expected two refusal lines in the app's log:\n{log.read_text()}")
    return "401 without a token and with a malformed one; its log says why:\n" + "\n".join(
        f"      {line}" for line in refusals
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the folder it works in")
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="claimguard-newcomer-"))
    clone = workdir / "claimguard"
    venv = workdir / ".venv"
    python = venv / "bin" / "python"
    quickstart = clone / "examples" / "quickstart"

    def create() -> str:
        run([sys.executable, "-m", "venv", str(venv)], cwd=workdir)
        return ""

    def install() -> str:
        run([str(python), "-m", "pip", "install", "--quiet", "./claimguard[testing]"], cwd=workdir)
        return ""

    def test() -> str:
        output = run([str(python), "-m", "pytest"], cwd=quickstart)
        return output.strip().splitlines()[-1].strip("= ")

    steps: list[tuple[str, Callable[[], str]]] = [
        ("copy the checkout to claimguard/", lambda: copy_checkout(clone)),
        ("python3 -m venv .venv", create),
        ('pip install "./claimguard[testing]"', install),
        ("import claimguard", lambda: check_installed_copy(python, venv)),
        ("python app.py", lambda: run_quickstart_app(python, quickstart, workdir / "app.log")),
        ("python -m pytest", test),
    ]
    print(f"The README's install path, in {workdir}:")
    started = time.monotonic()
    failed = False
    for name, step in steps:
        began = time.monotonic()
        try:
            note = step()
        except (StepFailed, subprocess.TimeoutExpired, OSError) as error:
            print(f"  {time.monotonic() - began:6.1f} s  {name}: FAILED\n{error}")
            failed = True
            break
        print(f"  {time.monotonic() - began:6.1f} s  {name}" + (f": {note}" if note else ""))
    print(f"  {time.monotonic() - started:6.1f} s  in all")
    if options.keep or failed:
        print(f"Kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
