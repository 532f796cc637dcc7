"""The one table of settings (claimguard.options): keys, defaults and ranges, checked the
same way for ``app.config`` and for the core's constructors, each error naming what its
caller wrote."""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

import pytest
from flask import Flask

from claimguard import ClaimGuard
from claimguard import ConfigurationError
from claimguard import JWKSCache
from claimguard import TokenValidator
from claimguard.dpop_settings import DPoPSettings
from claimguard.options import DEFAULTS
from claimguard.options import OPTIONS
from claimguard.options import check_number
from claimguard.settings import DEFAULTS as SETTINGS_DEFAULTS
from claimguard.settings import Settings
from claimguard.testing import ForgedIssuer

URL = "https://tenant.example.com/.well-known/jwks.json"
KEYS = JWKSCache(URL)
ISSUER = "https://tenant.example.com/"


def build(**overrides: Any) -> TokenValidator:
    settings: dict[str, Any] = {"issuers": {ISSUER: KEYS}, "audiences": "https://api.example"}
    return TokenValidator(**{**settings, **overrides})


def test_one_table_of_keys_and_defaults() -> None:
    assert SETTINGS_DEFAULTS is DEFAULTS
    assert list(DEFAULTS) == [option.key for option in OPTIONS]
    assert all(option.key.startswith("CLAIMGUARD_") for option in OPTIONS)


@pytest.mark.parametrize("constructor", [TokenValidator, JWKSCache])
def test_constructor_defaults_come_from_the_table(constructor: type) -> None:
    parameters = inspect.signature(constructor).parameters
    shared = [
        (option, parameters[option.keyword])
        for option in OPTIONS
        if option.keyword in parameters
        and parameters[option.keyword].default is not inspect.Parameter.empty  # required
    ]
    assert shared
    for option, parameter in shared:
        assert parameter.default == option.default, option.key


def test_settings_read_every_number_of_the_table() -> None:
    fields = {field.name for field in dataclasses.fields(Settings)}
    fields |= {f"dpop_{field.name}" for field in dataclasses.fields(DPoPSettings)}
    numbers = [option for option in OPTIONS if option.low is not None]
    assert {option.key.removeprefix("CLAIMGUARD_").lower() for option in numbers} <= fields


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("ttl", -5),
        ("ttl", 0),
        ("ttl", 86401),
        ("cooldown", float("nan")),
        ("cooldown", -1),
        ("max_stale", float("inf")),
        ("timeout", 0.05),
        ("timeout", "5"),
        ("max_bytes", 0),
        ("max_bytes", 1.5),
    ],
)
def test_key_set_settings_out_of_range_are_refused(keyword: str, value: object) -> None:
    """The ranges of CLAIMGUARD_JWKS_* and CLAIMGUARD_HTTP_TIMEOUT hold for a direct
    caller too, and the message names the keyword that was written."""
    with pytest.raises(ConfigurationError, match=f"^{keyword}= must be"):
        JWKSCache(URL, **{keyword: value})


def test_key_set_settings_at_their_bounds_are_accepted() -> None:
    low = JWKSCache(URL, ttl=1, cooldown=0, max_stale=0, timeout=0.1, max_bytes=1)
    high = JWKSCache(URL, ttl=86400, cooldown=3600, max_stale=604800, timeout=60)
    assert (low.ttl, low.cooldown, low.max_stale, low.timeout) == (1, 0, 0, 0.1)
    assert (high.ttl, high.cooldown, high.max_stale, high.timeout) == (86400, 3600, 604800, 60)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"leeway": 301}, "leeway="),
        ({"max_token_age": 0}, "max_token_age="),
        ({"token_cache_size": 1.5}, "token_cache_size="),
        ({"strict_typ": "false"}, "strict_typ="),
        ({"algorithms": []}, "algorithms="),
        ({"allowed_clients": [""]}, "allowed_clients="),
        ({"roles_claims": 5}, "roles_claims="),
        ({"roles_claims": ["sub"]}, "roles_claims="),
        ({"audiences": "https://tenant.auth0.com/userinfo"}, "audiences="),
    ],
)
def test_a_direct_caller_is_told_the_keyword(overrides: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        build(**overrides)
    assert named in str(info.value)
    assert "CLAIMGUARD_" not in str(info.value)


def test_an_app_is_told_the_key(forged_issuer: ForgedIssuer) -> None:
    app = Flask(__name__)
    forged_issuer.configure(app)
    app.config["CLAIMGUARD_LEEWAY"] = 301
    with pytest.raises(ConfigurationError, match=r"^CLAIMGUARD_LEEWAY must be between 0 and 300"):
        ClaimGuard(app)


def test_auth0_domain_of_a_direct_caller_is_named_as_written() -> None:
    with pytest.raises(ConfigurationError, match=r"^domain= must be a host name"):
        JWKSCache.for_auth0_domain("https://tenant.example.com/some/path")


@pytest.mark.parametrize(
    ("value", "whole", "accepted"),
    [
        (3, True, True),
        (3.0, True, True),
        (3.5, True, False),
        (3.5, False, True),
        (math.nan, False, False),
        (True, False, False),
        (10**400, False, False),
    ],
)
def test_check_number(value: object, whole: bool, accepted: bool) -> None:
    if accepted:
        assert check_number("x=", value, 0, 10, whole=whole) == value
    else:
        with pytest.raises(ConfigurationError, match=r"^x= must be"):
            check_number("x=", value, 0, 10, whole=whole)
