"""Settings: the public URL that links in notices carry."""

from __future__ import annotations

from pathlib import Path

import pytest

from secinfo.bootstrap import service_config
from secinfo.config import ConfigError, load_settings

SECRET = "s" * 40
KEY = "A" * 43 + "="


def test_in_development_the_public_url_follows_host_and_port(tmp_path: Path) -> None:
    # On this machine, named localhost: the default web domain, so passkeys work.
    settings = load_settings(port=8100, data_dir=tmp_path)
    assert settings.base_url == "http://localhost:8100"
    assert service_config(settings).public_url == "http://localhost:8100"
    assert settings.passkeys_problem() is None
    everywhere = load_settings(host="0.0.0.0", port=9000, data_dir=tmp_path)
    assert everywhere.base_url == "http://localhost:9000"  # a browser cannot open 0.0.0.0
    elsewhere = load_settings(port=9000, web_domain="id.example.com", data_dir=tmp_path)
    assert elsewhere.base_url == "http://127.0.0.1:9000"


def test_passkeys_need_the_web_domain_to_fit_the_public_url(tmp_path: Path) -> None:
    fits = load_settings(
        public_url="https://id.example.com", web_domain="example.com", data_dir=tmp_path
    )
    assert fits.passkeys_problem() is None
    # Development runs with passkeys off and says why.
    address = load_settings(public_url="http://127.0.0.1:8000", data_dir=tmp_path)
    assert "'127.0.0.1' is not 'localhost'" in (address.passkeys_problem() or "")
    plain = load_settings(
        public_url="http://id.example.com", web_domain="example.com", data_dir=tmp_path
    )
    assert "not https" in (plain.passkeys_problem() or "")
    # Production refuses to start.
    with pytest.raises(ConfigError) as refused:
        load_settings(
            env="production",
            secret_key=SECRET,
            encryption_keys=KEY,
            public_url="https://id.example.com",
            web_domain="other.example",
            smtp_host="mail.example.com",
            smtp_from_address="id@example.com",
            sms_provider="webhook",
            sms_webhook_url="https://sms.example.com/send",
            data_dir=tmp_path,
        )
    message = str(refused.value)
    assert "SECINFO_WEB_DOMAIN" in message and "'id.example.com' is not 'other.example'" in message
    with pytest.raises(ConfigError) as not_a_domain:
        load_settings(web_domain="https://example.com", data_dir=tmp_path)
    assert "SECINFO_WEB_DOMAIN" in str(not_a_domain.value)


def test_a_set_public_url_wins_without_its_trailing_slash(tmp_path: Path) -> None:
    settings = load_settings(port=8100, public_url="https://id.example.com/", data_dir=tmp_path)
    assert service_config(settings).public_url == "https://id.example.com"


def test_production_refuses_to_start_without_a_public_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(
            env="production",
            secret_key=SECRET,
            encryption_keys=KEY,
            smtp_host="mail.example.com",
            smtp_from_address="id@example.com",
            sms_provider="webhook",
            sms_webhook_url="https://sms.example.com/send",
            data_dir=tmp_path,
        )
    assert "SECINFO_PUBLIC_URL" in str(refused.value)


def test_a_wait_is_said_in_the_largest_unit_rounded_up() -> None:
    from secinfo.adapters.ratelimit.limiter import wait_in_words

    assert wait_in_words(1) == "1 second"
    assert wait_in_words(45) == "45 seconds"
    assert wait_in_words(3240) == "54 minutes"
    assert wait_in_words(3241) == "55 minutes"  # never shorter than the real wait
    assert wait_in_words(7200) == "2 hours"
    assert wait_in_words(3 * 86400) == "3 days"


def test_periods_are_worded_for_pages() -> None:
    from datetime import timedelta

    from secinfo.web.pages import duration

    assert duration(timedelta(days=30)) == "30 days"
    assert duration(timedelta(hours=24)) == "24 hours"  # as people say it
    assert duration(timedelta(days=14)) == "14 days"
    assert duration(timedelta(minutes=10)) == "10 minutes"
    assert duration(timedelta(hours=1)) == "1 hour"
    assert duration(timedelta(hours=36)) == "36 hours"


def test_services_never_run_without_limits(tmp_path: Path) -> None:
    """Deps has no default limiter to forget; the built one is the real limiter."""
    import asyncio
    import dataclasses

    from secinfo.bootstrap import build
    from secinfo.domain.errors import TooManyRequests
    from secinfo.services.deps import Deps

    limiter_field = next(f for f in dataclasses.fields(Deps) if f.name == "limiter")
    assert limiter_field.default is dataclasses.MISSING
    assert limiter_field.default_factory is dataclasses.MISSING

    settings = load_settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/x.db",
        rate_limits={"code.send.destination": "1/minute"},
    )

    async def twice() -> None:
        app = build(settings)
        try:
            await app.deps.limiter.hit("code.send.destination", "someone@example.com")
            with pytest.raises(TooManyRequests):
                await app.deps.limiter.hit("code.send.destination", "someone@example.com")
        finally:
            await app.close()

    asyncio.run(twice())


def test_the_settings_defaults_are_the_policies_defaults(tmp_path: Path) -> None:
    """One place states each default: unset settings give exactly the services' own
    policy objects, so the two cannot drift apart."""
    from secinfo.services.deps import ServiceConfig

    defaults = ServiceConfig()
    built = service_config(load_settings(data_dir=tmp_path, public_url=defaults.public_url))
    assert built == defaults


def test_the_sign_in_challenge_lifetime_can_be_set(tmp_path: Path) -> None:
    from datetime import timedelta

    settings = load_settings(data_dir=tmp_path, challenge_ttl_minutes=5)
    assert service_config(settings).sign_in.challenge_ttl == timedelta(minutes=5)
    with pytest.raises(ConfigError) as refused:
        load_settings(data_dir=tmp_path, challenge_ttl_minutes=0)
    assert "SECINFO_CHALLENGE_TTL_MINUTES" in str(refused.value)
