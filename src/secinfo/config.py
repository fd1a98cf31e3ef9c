"""Settings: one frozen object from the environment (``SECINFO_*``) and an optional
TOML file (``SECINFO_CONFIG``), validated at start with messages that name the setting.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from secinfo.adapters.secretbox import SecretBox, derived_index_key
from secinfo.domain.data_rights import ErasurePolicy
from secinfo.domain.passkeys import PasskeyPolicy, rp_id_problem
from secinfo.domain.passwords import PasswordHashPolicy
from secinfo.domain.pumping import PumpingPolicy
from secinfo.domain.rules import ReconfirmPolicy, SignInPolicy, WaitingPeriodPolicy
from secinfo.domain.verification import CodePolicy
from secinfo.services.deps import ServiceConfig

# Every default is stated once, in the policy objects the services use; a setting only
# overrides it (and its bounds say what may be set).
_CODES = CodePolicy()
_SERVICE = ServiceConfig()
_WAITING = WaitingPeriodPolicy()
_SIGN_IN = SignInPolicy()
_RECONFIRM = ReconfirmPolicy()
_PUMPING = PumpingPolicy()
_HASHING = PasswordHashPolicy()
_PASSKEYS = PasskeyPolicy()
_ERASURE = ErasurePolicy()


def _seconds(value: timedelta) -> int:
    return int(value.total_seconds())


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SECINFO_", frozen=True, extra="forbid")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///var/secinfo.db"
    db_pool_size: int = Field(10, ge=1, le=200)
    data_dir: Path = Path("var")

    secret_key: str | None = Field(
        None, description="Server secret for code hashes (32+ characters). Required in production."
    )
    encryption_keys: str | None = Field(
        None,
        description="Comma-separated base64 32-byte AES keys for message bodies, secrets and "
        "contacts at rest; first seals.",
    )
    contact_index_key: str | None = Field(
        None,
        description="Base64 32-byte key of the contacts' blind index (HMAC-SHA256), which "
        "lookups and uniqueness use. Required in production; it cannot be rotated without "
        "recomputing every index.",
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    product_name: str = Field(_SERVICE.product_name, min_length=1, max_length=40)
    web_domain: str = Field(
        _SERVICE.web_domain,
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$",
        description="The site's domain: the WebOTP line of SMS codes, and the passkeys' "
        "relying-party id (the public URL's host or a parent domain of it).",
    )
    passkey_options_seconds: int = Field(
        _seconds(_PASSKEYS.options_ttl),
        ge=30,
        le=3600,
        description="How long passkey options (a WebAuthn challenge) stay usable.",
    )
    template_dir: Path | None = None

    code_length: int = Field(_CODES.length, ge=4, le=10)
    code_alphanumeric: bool = _CODES.alphanumeric
    code_ttl_seconds: int = Field(_seconds(_CODES.ttl), ge=60, le=86400)
    code_max_checks: int = Field(_CODES.max_checks, ge=1, le=20)
    code_max_sends: int = Field(_CODES.max_sends, ge=1, le=20)
    resend_cooldown_seconds: int = Field(_seconds(_CODES.resend_cooldown), ge=0, le=3600)
    step_up_window_seconds: int = Field(_seconds(_SERVICE.step_up_window), ge=60, le=86400)
    session_ttl_days: int = Field(_SERVICE.session_ttl.days, ge=1, le=365)

    # Waiting periods, sign-in risk, reconfirmation, activity.
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="Where the pages live (links in notices). Development: http://HOST:PORT.",
    )
    waiting_period_days: float = Field(_WAITING.length.days, gt=0, le=365)
    waiting_reminder_days: float = Field(_WAITING.reminder_every.days, gt=0, le=365)
    inactivity_days: int = Field(_SIGN_IN.inactivity.days, ge=1, le=3650)
    challenge_ttl_minutes: int = Field(
        _seconds(_SIGN_IN.challenge_ttl) // 60,
        ge=1,
        le=1440,
        description="How long a sign-in challenge (the code step) stays open.",
    )
    reconfirm_days: int = Field(_RECONFIRM.period.days, ge=1, le=3650)
    reconfirm_skip_hours: int = Field(_seconds(_RECONFIRM.skip_for) // 3600, ge=1, le=720)
    reconfirm_grace_days: int = Field(_RECONFIRM.grace.days, ge=0, le=365)
    activity_retention_days: int = Field(_SERVICE.activity_retention.days, ge=1, le=3650)
    erasure_grace_days: float = Field(
        _ERASURE.grace.days,
        gt=0,
        le=365,
        description="How long a closed account waits (sign-in cancels) before its data is erased.",
    )
    geoip_csv: Path | None = Field(None, description="CSV of network,country for IP → country.")
    jobs_interval_seconds: float = Field(30, gt=0, le=3600)

    # Slow clients (``serve``): headers must arrive in time, idle connections close, and
    # past the connection limit new requests answer 503.
    http_header_timeout_seconds: float = Field(10.0, gt=0, le=300)
    http_keep_alive_seconds: int = Field(5, ge=1, le=300)
    http_limit_concurrency: int = Field(1000, ge=1)
    http_max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    # Abuse resistance: named rate limits (Redis shares them between processes), SMS pumping.
    redis_url: str | None = Field(None, pattern=r"^(rediss?|unix)://")
    redis_key_prefix: str = Field("secinfo", min_length=1, max_length=64)
    rate_limits: dict[str, str] = Field(
        default_factory=dict,
        description='Overrides of the named limits, e.g. {"code.send.destination": "5/hour"}.',
    )
    rate_limit_outage: Literal["refuse_sends", "refuse_all", "allow_all"] = "refuse_sends"
    sms_allowed_countries: str = Field("", description="Comma-separated ISO codes; empty: all.")
    sms_denied_countries: str = ""
    sms_refuse_voip: bool = _PUMPING.refuse_voip
    pumping_window_minutes: int = Field(_seconds(_PUMPING.window) // 60, ge=1, le=10080)
    pumping_min_sends: int = Field(_PUMPING.min_sends, ge=1, le=100000)
    pumping_min_conversion: float = Field(_PUMPING.min_conversion, ge=0, le=1)
    pumping_block_hours: float = Field(_seconds(_PUMPING.block_for) / 3600, gt=0, le=720)
    pumping_prefix_digits: int = Field(_PUMPING.prefix_digits, ge=1, le=10)

    @field_validator("rate_limits")
    @classmethod
    def _known_limits(cls, value: dict[str, str]) -> dict[str, str]:
        from limits import parse_many

        from secinfo.domain.limits import with_overrides

        with_overrides(value)
        for name, rates in value.items():
            try:
                parse_many(rates)
            except ValueError:
                raise ValueError(
                    f"{name}: '{rates}' is not a rate like '5/hour' or '3/minute;10/day'"
                ) from None
        return value

    def country_set(self, value: str) -> frozenset[str]:
        return frozenset(part.strip().upper() for part in value.split(",") if part.strip())

    # Passwords: argon2id cost, and the bounded pool that runs the hashes (a rush of
    # sign-ins is refused with 503 "overloaded" instead of queueing without end).
    argon2_time_cost: int = Field(_HASHING.time_cost, ge=1, le=20)
    argon2_memory_kib: int = Field(_HASHING.memory_kib, ge=1024, le=4 * 1024 * 1024)
    argon2_parallelism: int = Field(_HASHING.parallelism, ge=1, le=64)
    password_hash_workers: int = Field(
        _HASHING.workers, ge=0, le=256, description="Hashing threads; 0: one per CPU core."
    )
    password_hash_queue: int = Field(_HASHING.queue, ge=0, le=100_000)
    password_hash_max_wait_ms: int = Field(
        int(_HASHING.max_wait.total_seconds() * 1000), ge=1, le=60_000
    )
    password_hash_retry_after_seconds: int = Field(_HASHING.retry_after_seconds, ge=1, le=3600)

    def password_hash_policy(self) -> PasswordHashPolicy:
        return PasswordHashPolicy(
            time_cost=self.argon2_time_cost,
            memory_kib=self.argon2_memory_kib,
            parallelism=self.argon2_parallelism,
            workers=self.password_hash_workers,
            queue=self.password_hash_queue,
            max_wait=timedelta(milliseconds=self.password_hash_max_wait_ms),
            retry_after_seconds=self.password_hash_retry_after_seconds,
        )

    delivery_batch_size: int = Field(50, ge=1, le=1000)
    delivery_max_attempts: int = Field(8, ge=1, le=100)

    # -- delivery: workers, SMTP email, SMS ----------------------------------------------
    # A claim's lease, renewed by the worker's heartbeat every third of it: a dead worker's
    # messages are claimable again this long after its last renewal.
    delivery_lease_seconds: int = Field(15, ge=5, le=3600)
    delivery_send_timeout_seconds: float = Field(60, gt=0, le=600)
    delivery_concurrency: int = Field(10, ge=1, le=200)
    delivery_retry_first_seconds: float = Field(5, gt=0, le=3600)
    delivery_retry_max_seconds: float = Field(900, gt=0, le=86400)
    delivery_poll_seconds: float = Field(1.0, gt=0, le=60)
    # `secinfo worker`, while its claims find more than one message: after a wake-up,
    # wait this long so the messages committed together go in one claim.
    delivery_gather_ms: int = Field(10, ge=0, le=1000)

    # -- webhooks (Standard Webhooks) ----------------------------------------------------
    webhook_timeout_seconds: float = Field(10, gt=0, le=60)
    # Receivers go down for longer than mail servers: with the first delay of 5 s, 20
    # attempts with waits capped at an hour keep trying for about 5 to 10 hours.
    webhook_max_attempts: int = Field(20, ge=1, le=100)
    webhook_retry_max_seconds: float = Field(3600, gt=0, le=86400)
    # Plain http:// endpoints; unset: allowed in development, refused in production.
    webhook_allow_http: bool | None = None
    webhook_rotation_overlap_hours: float = Field(24, ge=0, le=168)

    smtp_host: str | None = None
    smtp_port: int | None = Field(None, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(30, gt=0, le=300)
    smtp_from_address: str | None = None
    smtp_from_name: str | None = None
    smtp_ca_file: Path | None = None
    smtp_max_connections: int = Field(4, ge=1, le=100)

    sms_provider: Literal["twilio", "webhook"] | None = None
    sms_from: str | None = None
    sms_timeout_seconds: float = Field(10, gt=0, le=120)
    sms_max_connections: int = Field(20, ge=1, le=500)
    sms_twilio_base_url: str = "https://api.twilio.com"
    sms_twilio_account_sid: str | None = None
    sms_twilio_auth_token: SecretStr | None = None
    sms_webhook_url: str | None = None
    sms_webhook_method: Literal["POST", "PUT"] = "POST"
    sms_webhook_headers: dict[str, str] = Field(default_factory=dict)
    sms_webhook_body: str = '{"to": "{to}", "body": "{body}", "id": "{id}"}'
    sms_webhook_id_field: str = "id"

    @field_validator("sms_webhook_body")
    @classmethod
    def _webhook_body_is_json_with_placeholders(cls, value: str) -> str:
        try:
            json.loads(value)
        except ValueError as error:
            raise ValueError(f"must be a JSON document ({error})") from None
        if "{to}" not in value or "{body}" not in value:
            raise ValueError("must contain the placeholders {to} and {body}")
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _ca_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _delivery_settings_complete(self) -> Settings:
        problem = self.passkeys_problem()
        if problem and self.env == "production":
            raise ValueError(
                f"passkeys need SECINFO_WEB_DOMAIN to fit SECINFO_PUBLIC_URL: {problem}"
            )
        missing = self.missing_production_secrets() + self.missing_delivery_settings()
        if missing:
            raise ValueError(
                f"{self.env} needs " + ", ".join(f"SECINFO_{name.upper()}" for name in missing)
            )
        return self

    def missing_delivery_settings(self) -> list[str]:
        """Settings a configured channel lacks; in production both channels are needed."""
        missing: list[str] = []
        if self.smtp_host is None and self.env == "production":
            missing.append("smtp_host")
        if self.smtp_host is not None and self.smtp_from_address is None:
            missing.append("smtp_from_address")
        if (self.smtp_username is None) != (self.smtp_password is None):
            missing.append("smtp_password" if self.smtp_password is None else "smtp_username")
        if self.sms_provider is None and self.env == "production":
            missing.append("sms_provider")
        required = {
            "twilio": ["sms_twilio_account_sid", "sms_twilio_auth_token", "sms_from"],
            "webhook": ["sms_webhook_url"],
        }.get(self.sms_provider or "", [])
        missing.extend(name for name in required if getattr(self, name) is None)
        return missing

    # -- end of delivery settings --------------------------------------------------------

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    @field_validator("secret_key")
    @classmethod
    def _secret_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError(
                "must be at least 32 characters (try: python -c "
                "'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return value

    @field_validator("contact_index_key")
    @classmethod
    def _index_key_decodes(cls, value: str | None) -> str | None:
        if value is not None and "," in value:
            raise ValueError("is one key (base64, 32 bytes), not a list")
        return cls._keys_decode(value)

    @field_validator("encryption_keys")
    @classmethod
    def _keys_decode(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for part in value.split(","):
            try:
                key = base64.b64decode(part.strip(), validate=True)
            except ValueError:
                raise ValueError("each key must be base64") from None
            if len(key) != 32:
                raise ValueError(
                    "each key must be 32 bytes, base64-encoded (try: python -c 'import os,"
                    "base64; print(base64.b64encode(os.urandom(32)).decode())')"
                )
        return value

    def missing_production_secrets(self) -> list[str]:
        if self.env != "production":
            return []
        names = ("secret_key", "encryption_keys", "contact_index_key", "public_url")
        return [name for name in names if getattr(self, name) is None]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlSource(settings_cls))

    # -- derived ------------------------------------------------------------------------
    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def base_url(self) -> str:
        """The public URL of the pages: as set, or (development) where ``serve`` listens."""
        if self.public_url:
            return self.public_url.rstrip("/")
        anywhere = ("0.0.0.0", "::", "")  # noqa: S104 - a browser cannot open these
        host = "127.0.0.1" if self.host in anywhere else self.host
        if host in ("127.0.0.1", "::1") and self.web_domain == "localhost":
            host = "localhost"  # the same machine, and a name passkeys accept
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def passkeys_problem(self) -> str | None:
        """Why passkeys cannot work with these settings (None when they can): the
        relying-party id must be the public URL's host or a parent domain of it. Production
        refuses to start; development runs with passkeys off and says why."""
        return rp_id_problem(self.web_domain, self.base_url)

    def code_secret(self) -> bytes:
        return (self.secret_key or _development_secret(self.data_dir)).encode()

    def encryption_key_list(self) -> list[bytes]:
        if self.encryption_keys:
            return [base64.b64decode(part.strip()) for part in self.encryption_keys.split(",")]
        # Development only: derive a key from the server secret.
        return [hashlib.sha256(b"secinfo-outbox:" + self.code_secret()).digest()]

    def contact_index_key_bytes(self) -> bytes:
        """The blind-index key: as set, or (development only) derived from the server
        secret with HKDF, so it survives restarts with the data folder."""
        if self.contact_index_key:
            return base64.b64decode(self.contact_index_key.strip())
        return derived_index_key(self.code_secret())

    def secret_box(self) -> SecretBox:
        return SecretBox(self.encryption_key_list(), self.contact_index_key_bytes())


class TomlSource(PydanticBaseSettingsSource):
    """Values from the TOML file named by SECINFO_CONFIG (top-level keys, no prefix)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("SECINFO_CONFIG")
        if not path:
            return {}
        try:
            with open(path, "rb") as handle:
                return tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"SECINFO_CONFIG names {path}, which does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"SECINFO_CONFIG file {path} is not valid TOML: {error}") from None


def _development_secret(data_dir: Path) -> str:
    """A random secret kept in the data folder, so codes survive a restart in development."""
    path = data_dir / "dev-secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings, turning pydantic's report into one clear message."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"]) or "settings"
            env_name = f"SECINFO_{name.upper()}" if problem["loc"] else name
            lines.append(f"  {env_name}: {problem['msg']}")
        raise ConfigError("Invalid configuration:\n" + "\n".join(lines)) from None
