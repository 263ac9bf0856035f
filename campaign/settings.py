"""One typed settings object, read from the environment names of the operator contract.

Every process (api, worker, dispatcher, simulator, cli) reads the same names; factories take a
`Settings` argument and only process entry points call :func:`get_settings`. A bad value fails at
start-up with a message naming the variable, and `ENVIRONMENT=production` refuses unsafe values
(campaign.production) in every process, since the check is part of validation itself.

Secrets are `SecretStr` and server URLs are masked in `repr`, so a traceback with locals or an
error tracker never prints them: read a secret with `.get_secret_value()` where it is used.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from campaign import env_values, production
from campaign.domain.events_spec import http_url_problem
from campaign.errors import InvalidInput
from campaign.log import LogFormat
from campaign.redact import mask_url_passwords

DEV_NOTIFY_SECRET = "dev-notify-secret-change-me"  # noqa: S105 - a marked development default
DEV_CLIENT_SECRET = "dev-client-secret-change-me"  # noqa: S105 - a marked development default
DEFAULT_UPLOAD_MAX_BYTES = 256 * 1024 * 1024
"""A million-row contacts CSV with a few metadata columns is 50-150 MB."""


class Environment(StrEnum):
    """Where the process runs; anything else (`prod`, `Production`, `production `) is refused,
    so a typo can never silently turn the production checks off."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Environment of every process. Durations carry their unit in the name."""

    # hide_input_in_errors: a validation error would otherwise quote the secrets it was given.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    # First, so the field validators below can read it.
    environment: Environment = Field(
        default=Environment.DEVELOPMENT, description="development | production"
    )
    database_url: str | None = Field(default=None, description="PostgreSQL URL; unset: embedded")
    redis_url: str | None = Field(default=None, description="Redis URL; unset: embedded")
    # Redis AUTH password, put into REDIS_URL when that has none (KEDA reads the same Secret key).
    redis_password: SecretStr | None = None
    savg_base_url: str = "http://127.0.0.1:8090"
    savg_client_id: str = "dev-client"
    savg_client_secret: SecretStr = SecretStr(DEV_CLIENT_SECRET)
    savg_jwt_algorithm: str = "HS256"
    savg_jwt_ttl_s: int = Field(default=60, ge=5, le=3600)
    savg_connect_timeout_s: float = Field(default=3.0, gt=0)
    savg_read_timeout_s: float = Field(default=10.0, gt=0)
    notify_base_url: str = "http://127.0.0.1:8080"
    notify_secret: SecretStr = SecretStr(DEV_NOTIFY_SECRET)
    # The secret before a rotation: tokens it signed keep verifying until they expire.
    notify_secret_previous: SecretStr | None = None
    savg_webhook_secret: SecretStr | None = None
    api_keys: SecretStr = SecretStr("")
    notify_max_body_bytes: int = Field(default=64 * 1024, gt=0)
    # Largest contacts or do-not-call CSV the API takes; refused by Content-Length before reading.
    upload_max_bytes: int = Field(default=DEFAULT_UPLOAD_MAX_BYTES, ge=1024)
    # Consecutive requests the gateway refused as wrong (4xx) before a campaign pauses itself.
    gateway_failures_before_pause: int = Field(default=20, ge=1)
    # The gateway breaker (campaign/breaker.py): consecutive failures that show a gateway sick
    # (5xx, timeouts, connection errors) open it; its first cool-down doubles after each failed
    # probe up to the maximum.
    gateway_breaker_failures: int = Field(default=5, ge=1)
    gateway_breaker_cooldown_s: float = Field(default=5.0, gt=0)
    gateway_breaker_max_cooldown_s: float = Field(default=300.0, gt=0)
    # Account-wide limits per trunk (every campaign dialing through one trunk shares them).
    trunk_cps: float | None = Field(default=None, gt=0)
    trunk_max_live_calls: int | None = Field(default=None, ge=1)
    # Added to an attempt's worst-case call length before it is declared lost (notification
    # delivery, clock skew).
    deadline_margin_s: float = Field(default=30.0, ge=0)
    # The sweeper re-sends attempts left `queued` this long (a lost broker message) and retakes
    # those left `dialing` this long (a worker that died while pacing); unprocessed inbox rows
    # are re-sent after `sweep_inbox_stale_s`.
    sweep_queued_stale_s: float = Field(default=30.0, gt=0)
    sweep_dialing_stale_s: float = Field(default=120.0, gt=0)
    sweep_inbox_stale_s: float = Field(default=30.0, gt=0)
    # A dial reserves its rate slot up to this far ahead and sleeps until it; later slots make the
    # task re-schedule itself instead, so no thread waits long.
    pacing_max_wait_s: float = Field(default=0.5, ge=0, le=5)
    # Celery queue names get this prefix so test sessions sharing one Redis stay apart.
    queue_prefix: str = "campaign"
    # Prometheus endpoint of every process (the API's too: never on the API's own port). 0: off.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from other hosts in a fleet
    # Where embedded servers keep their data when DATABASE_URL/REDIS_URL are unset.
    data_dir: str = "var"
    # Every campaign's signed events also go here (besides a spec's own `events.url`); both or
    # neither. The secret is one we choose: 32 bytes at least in production.
    events_url: str | None = None
    events_secret: SecretStr | None = None
    # `json`: one JSON object per log line, with the campaign and attempt ids, for log shippers.
    log_format: LogFormat = "text"

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        return env_values.postgres_url(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_only(cls, value: str | None) -> str | None:
        return env_values.redis_url(value)

    @field_validator("savg_base_url", "notify_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return env_values.http_base_url(value)

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if (problem := http_url_problem(value)) is not None:
            raise ValueError(problem)
        return value.strip()

    @field_validator("savg_jwt_algorithm")
    @classmethod
    def _known_algorithm(cls, value: str) -> str:
        if value not in {"HS256", "HS384", "HS512"}:
            raise ValueError(
                "must be one of HS256, HS384, HS512 (SAVG signs with the client secret)"
            )
        return value

    @field_validator(
        "savg_webhook_secret",
        "notify_secret_previous",
        "redis_password",
        "events_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any, info: ValidationInfo) -> Any:
        """An empty optional secret must not switch a check on with an empty key: development
        treats it as unset, production refuses it (an operator meant to set something)."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and not raw.strip():
            if info.data.get("environment") is Environment.PRODUCTION:
                raise ValueError("is empty; set a secret or leave the variable unset")
            return None
        return value

    @field_validator("notify_secret", "savg_client_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty; set a secret")
        return value

    @field_validator("api_keys")
    @classmethod
    def _api_keys_shape(cls, value: SecretStr) -> SecretStr:
        entries = [p.strip() for p in value.get_secret_value().split(",")]
        for position, pair in enumerate(filter(None, entries), 1):
            _, key, scope = env_values.api_key_entry(pair)
            if not key or scope not in {"operator", "read"}:
                # Never echo the entry: it is a key.
                raise ValueError(
                    f"entry {position} is not key:operator or key:read (or name=key:scope)"
                )
        return value

    @model_validator(mode="after")
    def _redis_auth_and_production(self) -> Settings:
        if (self.events_url is None) != (self.events_secret is None):
            raise ValueError("EVENTS_URL and EVENTS_SECRET: set both (or neither)")
        if self.redis_password is not None and self.redis_url is not None:
            self.redis_url = env_values.with_password(self.redis_url, self.redis_password)
        if self.environment is Environment.PRODUCTION:
            problems = list(self._production_problems())
            if problems:
                raise ValueError("; ".join([*problems, production.GENERATE_HINT]))
        return self

    def _production_problems(self) -> Any:
        own, vendor = production.OWN_SECRET_BYTES, production.VENDOR_SECRET_BYTES
        for name, secret, size in (
            ("NOTIFY_SECRET", self.notify_secret, own),
            ("NOTIFY_SECRET_PREVIOUS", self.notify_secret_previous, own),
            ("SAVG_CLIENT_SECRET", self.savg_client_secret, vendor),
            ("SAVG_WEBHOOK_SECRET", self.savg_webhook_secret, vendor),
            ("REDIS_PASSWORD", self.redis_password, vendor),
            ("EVENTS_SECRET", self.events_secret, own),
        ):
            value = None if secret is None else secret.get_secret_value()
            yield from production.secret_problems(name, value, size)
        if production.is_placeholder(self.savg_client_id):
            yield "SAVG_CLIENT_ID: a development or placeholder value"
        yield from production.api_key_problems(self._api_key_pairs())
        yield from production.https_problems("NOTIFY_BASE_URL", self.notify_base_url)
        yield from production.https_problems("SAVG_BASE_URL", self.savg_base_url)
        if self.events_url is not None:
            yield from production.https_problems("EVENTS_URL", self.events_url)
        yield from production.url_password_problems("DATABASE_URL", self.database_url)
        yield from production.url_password_problems("REDIS_URL", self.redis_url)

    def _api_key_entries(self) -> list[tuple[str | None, str, str]]:
        entries = (p.strip() for p in self.api_keys.get_secret_value().split(","))
        return [env_values.api_key_entry(p) for p in entries if p]

    def _api_key_pairs(self) -> list[tuple[str, str]]:
        return [(key, scope) for _, key, scope in self._api_key_entries()]

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name in ("database_url", "redis_url") and isinstance(value, str):
                value = mask_url_passwords(value)
            yield name, value

    @property
    def production(self) -> bool:
        """True where real calls are made (ENVIRONMENT=production)."""
        return self.environment is Environment.PRODUCTION

    @property
    def api_key_scopes(self) -> dict[str, str]:
        """API key → scope, from `API_KEYS` (`key:scope,…`, or `name=key:scope`)."""
        return dict(self._api_key_pairs())

    @property
    def api_key_names(self) -> dict[str, str]:
        """API key → its name, for the keys `API_KEYS` names (`name=key:scope`): who acts, in
        the audit trail, instead of the key itself."""
        return {key: name for name, key, _ in self._api_key_entries() if name is not None}

    @property
    def notify_secrets(self) -> tuple[str, ...]:
        """Secrets that verify notify tokens: the current one first, then the previous one."""
        previous = self.notify_secret_previous
        current = self.notify_secret.get_secret_value()
        return (current,) if previous is None else (current, previous.get_secret_value())

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL with the psycopg 3 driver named, as SQLAlchemy needs it."""
        if self.database_url is None:
            raise InvalidInput("DATABASE_URL is not set and no embedded server was started")
        url = self.database_url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    @property
    def global_events(self) -> tuple[str, str] | None:
        """(EVENTS_URL, EVENTS_SECRET) when every campaign's events also go there."""
        if self.events_url is None or self.events_secret is None:
            return None
        return self.events_url, self.events_secret.get_secret_value()

    def queue(self, name: str) -> str:
        """The Celery queue name for `name` ("dial", "notify", "events") under this deployment's
        prefix."""
        return f"{self.queue_prefix}.{name}"


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a bad value raises InvalidInput naming the variable, on one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False):
            if err["loc"]:
                problems.append(f"{str(err['loc'][0]).upper()}: {err['msg']}")
            else:  # the production rules: each problem already names its variable
                problems.append(str(err["msg"]).removeprefix("Value error, "))
        # Not chained: the pydantic error (inputs hidden or not) adds nothing a traceback needs.
        raise InvalidInput("; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; only process entry points call this."""
    return load_settings()
