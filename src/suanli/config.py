"""Settings, read from the environment once per process.

| variable              | default                                   |
|-----------------------|-------------------------------------------|
| SUANLI_HOME           | ./.suanli (data directory)                |
| SUANLI_DATABASE_URL   | sqlite:///$SUANLI_HOME/suanli.db          |
| SUANLI_HOST           | 127.0.0.1                                 |
| SUANLI_PORT           | 8000                                      |
| SUANLI_PLATFORM_NAME  | 安徽省算力调度平台 (shown in the UI, used by federation later) |
| SUANLI_PLATFORM_PROVINCE | 安徽 (the platform's province, told to federated peers) |
| SUANLI_FEDERATION_BASE_URL | http://$SUANLI_HOST:$SUANLI_PORT (where peers reach this platform's /federation/v1) |
| SUANLI_FEDERATION_KEY_GRACE_HOURS | 72 (a rotated-out federation key stays valid this long) |
| SUANLI_FEDERATION_SYNC_INTERVAL_SECONDS | 300 (`suanli serve` pulls every active peer's catalog changes this often; 0: off) |
| SUANLI_TOKEN_TTL_HOURS| 12 (lifetime of a login token)            |
| SUANLI_METER_INTERVAL_SECONDS | 30 (`suanli serve` meters running orders this often; 0: off) |
| SUANLI_DB_POOL_SIZE   | 10 (PostgreSQL connections per API worker process; requests beyond it wait for one) |
| SUANLI_INSTANCE_INTERVAL_SECONDS | 2 (`suanli serve` starts, watches and stops leased machines this often; 0: off) |
| SUANLI_CLUSTER_ALLOWED_NETWORKS | empty (comma-separated CIDRs clusters and federation peers may be reached on although not public, e.g. `10.20.0.0/16`) |
| SUANLI_MAX_BODY_BYTES | 1048576 (largest request body accepted; larger: 413 body_too_large) |
| SUANLI_REGISTRATIONS_PER_HOUR | 20 (account registrations accepted per client address per hour; more: 429) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from suanli.core.addresses import IPNetwork, parse_networks

CLUSTER_ALLOWED_NETWORKS = "SUANLI_CLUSTER_ALLOWED_NETWORKS"


class SettingsError(ValueError):
    """An environment variable holds a value suanli cannot use."""


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    host: str
    port: int
    platform_name: str
    token_ttl_hours: int
    meter_interval_seconds: int = 30
    scheduler_interval_seconds: int = 5
    db_pool_size: int = 10
    instance_interval_seconds: int = 2
    cluster_allowed_networks: tuple[IPNetwork, ...] = ()
    max_body_bytes: int = 1024 * 1024
    registrations_per_hour: int = 20
    platform_province: str = "安徽"
    federation_base_url: str = "http://127.0.0.1:8000"
    federation_key_grace_hours: int = 72
    federation_sync_interval_seconds: int = 300

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _int_env(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number; set it to an integer between {low} and {high}.") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is out of range; set it between {low} and {high}.")
    return value


def cluster_allowed_networks() -> tuple[IPNetwork, ...]:
    """The networks the operator lets clusters be reached on although they are not public (loopback, private,
    link-local ...: ``core.addresses``). Read at every use, so the scheduler of a running server and the tests see
    the variable as it is now."""
    raw = os.environ.get(CLUSTER_ALLOWED_NETWORKS) or ""
    try:
        return parse_networks(raw)
    except ValueError as exc:
        raise SettingsError(f"{CLUSTER_ALLOWED_NETWORKS}: {exc}; give comma-separated networks such as "
                            "10.20.0.0/16,192.168.7.0/24.") from None


def load_settings() -> Settings:
    home = Path(os.environ.get("SUANLI_HOME") or "./.suanli").expanduser().resolve()
    url = os.environ.get("SUANLI_DATABASE_URL") or f"sqlite:///{home / 'suanli.db'}"
    if not (url.startswith("sqlite") or url.startswith("postgresql")):
        raise SettingsError(
            f"SUANLI_DATABASE_URL={url!r} is not supported; use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB."
        )
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    host = os.environ.get("SUANLI_HOST") or "127.0.0.1"
    port = _int_env("SUANLI_PORT", 8000, 1, 65535)
    base_url = (os.environ.get("SUANLI_FEDERATION_BASE_URL") or f"http://{host}:{port}").rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise SettingsError(f"SUANLI_FEDERATION_BASE_URL={base_url!r} is not an http(s) URL; set it to the URL "
                            "peers reach this platform on, e.g. https://suanli.example.cn.")
    return Settings(
        home=home,
        database_url=url,
        host=host,
        port=port,
        platform_name=os.environ.get("SUANLI_PLATFORM_NAME") or "安徽省算力调度平台",
        token_ttl_hours=_int_env("SUANLI_TOKEN_TTL_HOURS", 12, 1, 24 * 90),
        meter_interval_seconds=_int_env("SUANLI_METER_INTERVAL_SECONDS", 30, 0, 3600),
        scheduler_interval_seconds=_int_env("SUANLI_SCHEDULER_INTERVAL_SECONDS", 5, 0, 3600),
        db_pool_size=_int_env("SUANLI_DB_POOL_SIZE", 10, 1, 500),
        instance_interval_seconds=_int_env("SUANLI_INSTANCE_INTERVAL_SECONDS", 2, 0, 3600),
        cluster_allowed_networks=cluster_allowed_networks(),
        max_body_bytes=_int_env("SUANLI_MAX_BODY_BYTES", 1024 * 1024, 1024, 1024 ** 3),
        registrations_per_hour=_int_env("SUANLI_REGISTRATIONS_PER_HOUR", 20, 1, 1_000_000),
        platform_province=os.environ.get("SUANLI_PLATFORM_PROVINCE") or "安徽",
        federation_base_url=base_url,
        federation_key_grace_hours=_int_env("SUANLI_FEDERATION_KEY_GRACE_HOURS", 72, 0, 24 * 365),
        federation_sync_interval_seconds=_int_env("SUANLI_FEDERATION_SYNC_INTERVAL_SECONDS", 300, 0, 86400),
    )
