"""The relying party's rules: which RP ID fits which origin, authenticator names."""

from __future__ import annotations

import pytest

from secinfo.domain.passkeys import PasskeyPolicy, authenticator_name, origin_of, rp_id_problem


@pytest.mark.parametrize(
    ("rp_id", "origin"),
    [
        ("example.com", "https://example.com"),
        ("example.com", "https://id.example.com"),
        ("Example.COM", "https://ID.example.com:8443/some/path"),
        ("localhost", "http://localhost:8000"),
        ("app.localhost", "http://app.localhost:8000"),
    ],
)
def test_an_rp_id_fits_its_host_and_the_hosts_below_it(rp_id: str, origin: str) -> None:
    assert rp_id_problem(rp_id, origin) is None


@pytest.mark.parametrize(
    ("rp_id", "origin", "says"),
    [
        ("example.com", "https://example.org", "is not 'example.com'"),
        ("example.com", "https://badexample.com", "is not 'example.com'"),  # not a subdomain
        ("id.example.com", "https://example.com", "is not 'id.example.com'"),
        ("127.0.0.1", "http://127.0.0.1:8000", "IP address"),
        ("localhost", "http://127.0.0.1:8000", "is not 'localhost'"),
        ("example.com", "http://id.example.com", "not https"),
    ],
)
def test_an_rp_id_that_does_not_fit_says_why(rp_id: str, origin: str, says: str) -> None:
    assert says in (rp_id_problem(rp_id, origin) or "")


def test_the_origin_is_scheme_host_and_port() -> None:
    assert origin_of("https://ID.example.com:8443/path?x=1") == "https://id.example.com:8443"
    assert origin_of("http://localhost:8000/") == "http://localhost:8000"


def test_known_authenticators_are_named_and_unknown_ones_are_not() -> None:
    assert authenticator_name("EA9B8D66-4D01-1D21-3CE4-B6B48CB575D4") == "Google Password Manager"
    assert authenticator_name("00000000-0000-0000-0000-000000000000") is None
    assert authenticator_name(None) is None


def test_the_policy_defaults() -> None:
    policy = PasskeyPolicy()
    assert policy.challenge_bytes >= 32 and policy.user_handle_bytes == 32
    assert policy.algorithms == (-7, -8, -257)
    assert policy.timeout_ms == 300_000
