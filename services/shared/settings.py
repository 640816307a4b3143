"""Configuration, from environment variables, with working local defaults."""

import json
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schemas.topics import Topics
from services.domain.returns import DEFAULT_RETURN_REASONS, ReturnPolicy, ReturnReason

#: Webhook retry schedule of the contract, in seconds after the previous attempt.
DEFAULT_RETRY_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    mongodb_url: str = "mongodb://127.0.0.1:27017/orders"
    # Concurrent operations per process. FerretDB v1 deadlocks once as many updates run at
    # once as its pool has connections (docs/design.md), so this stays well below that.
    mongodb_pool_size: int = Field(default=16, ge=1, validation_alias="ORDERS_MONGODB_POOL_SIZE")

    http_host: str = Field(default="127.0.0.1", validation_alias="ORDERS_HTTP_HOST")
    http_port: int = Field(default=8000, validation_alias="ORDERS_HTTP_PORT")
    topic_prefix: str = Field(default="", validation_alias="ORDERS_TOPIC_PREFIX")
    log_level: str = Field(default="INFO", validation_alias="ORDERS_LOG_LEVEL")
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="ORDERS_LOG_FORMAT")
    # Where the writer and the dispatcher answer /health, /ready and /metrics (the ingress
    # answers them on its API port). Port 0 picks a free one, which the process logs.
    writer_http_port: int = Field(default=8001, ge=0, validation_alias="ORDERS_WRITER_HTTP_PORT")
    dispatcher_http_port: int = Field(default=8002, ge=0, validation_alias="ORDERS_DISPATCHER_HTTP_PORT")
    metrics_interval_seconds: float = Field(default=5.0, gt=0, validation_alias="ORDERS_METRICS_INTERVAL_SECONDS")

    api_key_cache_seconds: float = Field(default=5.0, ge=0, validation_alias="ORDERS_API_KEY_CACHE_SECONDS")
    request_body_timeout_seconds: float = Field(
        default=10.0, gt=0, validation_alias="ORDERS_REQUEST_BODY_TIMEOUT_SECONDS"
    )
    ingress_recent_checkouts: int = Field(default=50_000, ge=0, validation_alias="ORDERS_INGRESS_RECENT_CHECKOUTS")
    """How many checkouts an ingress process remembers from ``checkout.events`` (about 1 KiB
    each), so that a create for one of them needs no read of the view; 0 reads the view."""
    publish_timeout_seconds: float = Field(default=5.0, gt=0, validation_alias="ORDERS_PUBLISH_TIMEOUT_SECONDS")
    checkout_grace_seconds: float = Field(default=30.0, ge=0, validation_alias="ORDERS_CHECKOUT_GRACE_SECONDS")
    writer_workers: int = Field(default=6, ge=1, validation_alias="ORDERS_WRITER_WORKERS")

    return_window_days: float = Field(default=14.0, ge=0, validation_alias="ORDERS_RETURN_WINDOW_DAYS")
    return_reasons: Annotated[tuple[ReturnReason, ...], NoDecode] = Field(
        default=DEFAULT_RETURN_REASONS, validation_alias="ORDERS_RETURN_REASONS"
    )

    allow_private_webhooks: bool = Field(default=False, validation_alias="ORDERS_ALLOW_PRIVATE_WEBHOOKS")
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, validation_alias="ORDERS_WEBHOOK_TIMEOUT_SECONDS")
    webhook_retry_schedule: Annotated[tuple[float, ...], NoDecode] = Field(
        default=DEFAULT_RETRY_SCHEDULE, validation_alias="ORDERS_WEBHOOK_RETRY_SCHEDULE"
    )
    webhook_queue_after_seconds: float = Field(default=1.0, gt=0, validation_alias="ORDERS_WEBHOOK_QUEUE_AFTER_SECONDS")
    webhook_concurrency: int = Field(default=256, ge=1, validation_alias="ORDERS_WEBHOOK_CONCURRENCY")
    webhook_per_host_concurrency: int = Field(default=64, ge=1, validation_alias="ORDERS_WEBHOOK_PER_HOST_CONCURRENCY")
    webhook_per_url_concurrency: int = Field(default=8, ge=1, validation_alias="ORDERS_WEBHOOK_PER_URL_CONCURRENCY")
    webhook_breaker_failures: int = Field(default=5, ge=1, validation_alias="ORDERS_WEBHOOK_BREAKER_FAILURES")
    webhook_breaker_cooldown_seconds: float = Field(
        default=30.0, gt=0, validation_alias="ORDERS_WEBHOOK_BREAKER_COOLDOWN_SECONDS"
    )
    webhook_disable_after_hours: float = Field(
        default=120.0, gt=0, validation_alias="ORDERS_WEBHOOK_DISABLE_AFTER_HOURS"
    )

    @field_validator("return_reasons", mode="before")
    @classmethod
    def _parse_reasons(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(ReturnReason(**item) for item in json.loads(value))
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(float(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_not_empty(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(v < 0 for v in value):
            raise ValueError("needs at least one delay, none negative")
        return value

    @cached_property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @cached_property
    def return_policy(self) -> ReturnPolicy:
        return ReturnPolicy(window_days=self.return_window_days, reasons=self.return_reasons)
