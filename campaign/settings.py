"""One typed settings object, read from the environment names of the operator contract.

Every process (api, worker, dispatcher, simulator, cli) reads the same names; factories take a
`Settings` argument and only process entry points call :func:`get_settings`. A bad value fails at
start-up with a message naming the variable.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from campaign.errors import InvalidInput
from campaign.log import LogFormat

DEV_NOTIFY_SECRET = "dev-notify-secret-change-me"  # noqa: S105 - a marked development default
DEV_CLIENT_SECRET = "dev-client-secret-change-me"  # noqa: S105 - a marked development default


class Settings(BaseSettings):
    """Environment of every process. Durations carry their unit in the name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str | None = Field(default=None, description="PostgreSQL URL; unset: embedded")
    redis_url: str | None = Field(default=None, description="Redis URL; unset: embedded")
    savg_base_url: str = "http://127.0.0.1:8090"
    savg_client_id: str = "dev-client"
    savg_client_secret: str = DEV_CLIENT_SECRET
    savg_jwt_algorithm: str = "HS256"
    savg_jwt_ttl_s: int = Field(default=60, ge=5, le=3600)
    savg_connect_timeout_s: float = Field(default=3.0, gt=0)
    savg_read_timeout_s: float = Field(default=10.0, gt=0)
    notify_base_url: str = "http://127.0.0.1:8080"
    notify_secret: str = DEV_NOTIFY_SECRET
    savg_webhook_secret: str | None = None
    api_keys: str = ""
    notify_max_body_bytes: int = Field(default=64 * 1024, gt=0)
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
    # Prometheus endpoint of the worker and dispatcher processes (0: off).
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from other hosts in a fleet
    # Where embedded servers keep their data when DATABASE_URL/REDIS_URL are unset.
    data_dir: str = "var"
    environment: str = Field(default="development", description="development | production")
    # `json`: one JSON object per log line, with the campaign and attempt ids, for log shippers.
    log_format: LogFormat = "text"

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql", "postgres")):
            raise ValueError("must be a postgresql:// URL")
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_only(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return value

    @field_validator("savg_base_url", "notify_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("savg_jwt_algorithm")
    @classmethod
    def _known_algorithm(cls, value: str) -> str:
        if value not in {"HS256", "HS384", "HS512"}:
            raise ValueError(
                "must be one of HS256, HS384, HS512 (SAVG signs with the client secret)"
            )
        return value

    @field_validator("api_keys")
    @classmethod
    def _api_keys_shape(cls, value: str) -> str:
        for pair in filter(None, (p.strip() for p in value.split(","))):
            key, sep, scope = pair.rpartition(":")
            if not sep or not key or scope not in {"operator", "read"}:
                raise ValueError(f"{pair!r} is not key:operator or key:read")
        return value

    @property
    def api_key_scopes(self) -> dict[str, str]:
        """API key → scope, from `API_KEYS` (`key:scope,…`)."""
        pairs = (p.strip().rpartition(":") for p in self.api_keys.split(",") if p.strip())
        return {key: scope for key, _, scope in pairs}

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL with the psycopg 3 driver named, as SQLAlchemy needs it."""
        if self.database_url is None:
            raise InvalidInput("DATABASE_URL is not set and no embedded server was started")
        url = self.database_url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    def queue(self, name: str) -> str:
        """The Celery queue name for `name` ("dial", "notify") under this deployment's prefix."""
        return f"{self.queue_prefix}.{name}"

    def check_production(self) -> None:
        """Refuse development secrets where real calls are made."""
        if self.environment == "production":
            for var, value, dev in (
                ("NOTIFY_SECRET", self.notify_secret, DEV_NOTIFY_SECRET),
                ("SAVG_CLIENT_SECRET", self.savg_client_secret, DEV_CLIENT_SECRET),
            ):
                if value == dev:
                    raise InvalidInput(f"{var}: set a real secret in production")


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a bad value raises InvalidInput naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            var = str(err["loc"][0]).upper() if err["loc"] else "settings"
            problems.append(f"{var}: {err['msg']}")
        raise InvalidInput("; ".join(problems)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; only process entry points call this."""
    return load_settings()
