"""The documentation's Python code runs: each file the pages include is exercised here.

The guides in docs/ hold no Python typed into the page (the docs build refuses it): they
include files with ``literalinclude``. The quickstart's files are run by
test_quickstart.py; the files of examples/docs/ and the reason-code example below are
run here. The tables the pages generate from the code are checked here too.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from flask import Flask

from claimguard import ClaimGuard
from claimguard import InvalidTokenError
from claimguard import TokenValidator
from claimguard.signals import request_authorized
from claimguard.signals import request_refused
from claimguard.testing import DPoPKey
from claimguard.testing import ForgedIssuer
from claimguard.testing import make_proof

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples" / "docs"


def load(path: Path) -> ModuleType:
    """A file of examples/, imported as the pages show it (not a package module)."""
    name = f"doc_example_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def docs_extension() -> ModuleType:
    return load(DOCS / "_ext" / "claimguard_docs.py")


def included() -> set[str]:
    """Every file a page includes with literalinclude, relative to the repository."""
    found = set()
    for page in DOCS.glob("*.rst"):
        for target in re.findall(r"^\.\. literalinclude:: (\S+)", page.read_text("utf-8"), re.M):
            found.add(str((page.parent / target).resolve().relative_to(ROOT)))
    return found


def test_every_included_example_exists_and_is_run() -> None:
    """Each Python file the pages include exists, and a test runs it."""
    python = {path for path in included() if path.endswith(".py")}
    assert python, "the pages include no Python file"
    for path in python:
        assert (ROOT / path).is_file(), path
    run_here = {f"examples/docs/{path.name}" for path in EXAMPLES.glob("*.py")}
    run_elsewhere = {
        "examples/quickstart/app.py",  # test_quickstart.py, make newcomer
        "examples/quickstart/test_app.py",
        "tests/test_doc_examples.py",  # this file
    }
    assert python <= run_here | run_elsewhere, python - run_here - run_elsewhere


def test_the_quickstart_page_includes_the_quickstart_files() -> None:
    assert {"examples/quickstart/app.py", "examples/quickstart/test_app.py"} <= included()


def test_every_setting_has_a_meaning_and_no_other() -> None:
    """The configuration table is made from claimguard.options.OPTIONS at build time; the
    meanings beside it must cover every setting, and name no other."""
    from claimguard.options import OPTIONS

    extension = docs_extension()
    assert set(extension.MEANINGS) == {option.key for option in OPTIONS}
    extension.check_meanings()
    assert ".. claimguard-options::" in (DOCS / "configuration.rst").read_text("utf-8")


def test_the_reason_table_has_every_code_with_its_answer() -> None:
    """The error table is made from claimguard.reasons.REASONS at build time, each row's
    status and body error read from the exception claimguard raises for it."""
    from claimguard.reasons import REASONS

    extension = docs_extension()
    for code, reason in REASONS.items():
        error = extension.error_for(code, reason.status)
        assert (error.status_code, error.reason) == (reason.status, code)
    assert ".. claimguard-reasons::" in (DOCS / "errors.rst").read_text("utf-8")


def test_audit_receivers_log_each_protected_request(
    forged_issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    from claimguard import requires_role

    audit = load(EXAMPLES / "audit.py")

    def create_app(config: dict[str, object]) -> Flask:
        app = Flask(__name__)
        app.config.update(
            CLAIMGUARD_AUDIENCE="https://products.example.com",
            CLAIMGUARD_ROLES_CLAIM="https://my-app.example.com/roles",
        )
        app.config.update(config)
        ClaimGuard(app)
        audit.connect_audit(app)

        @app.get("/products")
        @requires_role("viewer")
        def products() -> dict[str, list[str]]:
            return {"products": []}

        return app

    app = forged_issuer.build_app(create_app, {"TESTING": True})
    client = app.test_client()
    viewer = forged_issuer.mint(roles=["viewer"], sub="auth0|viewer")
    try:
        with caplog.at_level(logging.INFO, logger="audit"):
            response = client.get("/products", headers={"Authorization": f"Bearer {viewer}"})
            assert response.status_code == 200
            assert client.get("/products").status_code == 401
    finally:
        # Signals are process-wide: leave no receiver behind for the other tests.
        request_authorized.disconnect(audit.audit_access)  # from every sender
        request_refused.disconnect(audit.audit_refusal)
    lines = [record.getMessage() for record in caplog.records if record.name == "audit"]
    assert lines == [
        "authorized GET /products sub=auth0|viewer",
        "refused GET /products reason=request.no_credentials sub=-",
    ]


def test_the_core_validates_without_flask(forged_issuer: ForgedIssuer) -> None:
    core = load(EXAMPLES / "core.py")
    built = core.auth0_validator("my-tenant.us.auth0.com")  # builds; fetches nothing
    assert isinstance(built, TokenValidator)
    validator = TokenValidator(
        issuers={forged_issuer.issuer: forged_issuer.key_set()},
        audiences="https://products.example.com",
        roles_claims=["https://my-app.example.com/roles"],
    )
    token = forged_issuer.mint(
        aud="https://products.example.com",
        **{"https://my-app.example.com/roles": ["admin"]},
    )
    assert core.check(validator, token).roles == frozenset({"admin"})


def test_assert_the_reason_code(forged_issuer: ForgedIssuer) -> None:
    validator = forged_issuer.validator()
    token = forged_issuer.mint(aud="https://another-api.example.com")
    # In your tests, assert the reason code rather than the sentence:
    with pytest.raises(InvalidTokenError) as info:
        validator.validate(token)
    assert info.value.reason == "token.audience"


def test_dpop_settings_set_claimguard_up(
    forged_issuer: ForgedIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dpop = load(EXAMPLES / "dpop_settings.py")
    monkeypatch.setenv("DPOP_NONCE_SECRET", "n" * 32)
    monkeypatch.setenv("DPOP_REPLAY_STORE", "memory")
    app = Flask(__name__)
    forged_issuer.configure(app, override=True)
    dpop.enable_dpop(app)
    assert app.config["CLAIMGUARD_DPOP_MODE"] == "allowed"
    ClaimGuard(app)


def test_the_proxy_example_checks_proofs_against_the_public_url(
    forged_issuer: ForgedIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claimguard import current_token
    from claimguard import requires_auth

    monkeypatch.setenv("PUBLIC_URL", "https://api.example.com/v1")
    proxy = load(EXAMPLES / "proxy.py")
    proxy.guard = ClaimGuard()
    app = forged_issuer.build_app(proxy.create_app, {"TESTING": True}, override=True)

    @app.get("/products")
    @requires_auth
    def products() -> dict[str, bool]:
        return {"bound": current_token.dpop_bound}

    key = DPoPKey.generate()
    token = forged_issuer.mint(dpop_key=key)
    client = app.test_client()

    def call(url: str) -> int:
        proof = make_proof(key, "GET", url, access_token=token)
        headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
        return client.get("/products", headers=headers).status_code

    assert call("https://api.example.com/v1/products") == 200
    assert call("http://localhost/products") == 401


def test_the_readme_example_protects_its_route() -> None:
    """examples/docs/protect.py, the README's example: the route refuses a request
    without a token, and the command-line tools see what it requires."""
    from claimguard.cli import cli

    protect = load(EXAMPLES / "protect.py")
    client = protect.app.test_client()
    refused = client.delete("/products/1")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    result = protect.app.test_cli_runner().invoke(cli, ["routes"])
    assert "/products/<int:product_id>  DELETE  roles: all of [admin]" in result.output


def test_the_performance_chart_is_drawn_from_the_published_results() -> None:
    """docs/_static/throughput.svg is what `python -m bench.chart` draws from
    bench/results/published.json: redraw it after changing the figures."""
    import json

    from bench.chart import render

    published = json.loads((ROOT / "bench" / "results" / "published.json").read_text("utf-8"))
    committed = (DOCS / "_static" / "throughput.svg").read_text("utf-8")
    assert render(published) == committed
