"""Which profile the code location runs under, and what that changes.

LEADSYNC_PROFILE=embedded (default): one process, the in-process executor, a DuckDB store.
LEADSYNC_PROFILE=scale: steps go to Celery workers over RabbitMQ (dagster-celery), the Dagster instance and
the lead store are on Postgres. The executor's settings come from the same celery.yaml the workers start
with ($LEADSYNC_CELERY_CONFIG, default dagster_home/scale/celery.yaml), so both sides agree.

No Dagster here: the executor each profile gets is built in the Dagster layer (leadsync/runs/executors.py).
"""

import os
from pathlib import Path

import sqlalchemy as sa
import yaml

from leadsync.config.loader import ConfigError

REPO = Path(__file__).resolve().parents[2]
PROFILES = ("embedded", "scale")
SCALE_HOME = REPO / "dagster_home" / "scale"


def current_profile() -> str:
    profile = os.environ.get("LEADSYNC_PROFILE", "embedded").strip() or "embedded"
    if profile not in PROFILES:
        raise ConfigError(f"LEADSYNC_PROFILE={profile!r} is not a profile; use one of {', '.join(PROFILES)}")
    return profile


def celery_config_path() -> Path:
    return Path(os.environ.get("LEADSYNC_CELERY_CONFIG") or SCALE_HOME / "celery.yaml")


def celery_queue() -> str | None:
    """$LEADSYNC_CELERY_QUEUE: the queue this deployment's steps go to and its workers listen on (default
    dagster-celery's `dagster`). Two deployments sharing one RabbitMQ (two test runs, staging beside
    production) each take their own, so that neither's workers run the other's steps."""
    return os.environ.get("LEADSYNC_CELERY_QUEUE") or None


def celery_config() -> dict:
    """The `execution.config` block of celery.yaml (what dagster-celery's worker command reads too), with
    the deployment's queue."""
    path = celery_config_path()
    try:
        parsed = yaml.safe_load(path.read_text()) or {}
        config = dict(parsed["execution"]["config"])
        if queue := celery_queue():
            config["config_source"] = {**(config.get("config_source") or {}), "task_default_queue": queue}
        return config
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: not found; set LEADSYNC_CELERY_CONFIG to the workers' celery.yaml") from exc
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: needs an `execution: config:` block (broker, backend, config_source)") from exc


def require_shared_store(store_url: str | None) -> None:
    """Workers on several machines share one lead store: it must be Postgres, not a local DuckDB file."""
    from leadsync.store.engine import default_store_url

    url = store_url or default_store_url()
    if sa.engine.make_url(url).get_backend_name() != "postgresql":
        raise ConfigError(
            f"the scale profile needs the lead store on Postgres, not {sa.engine.make_url(url).get_backend_name()}: "
            "set LEADSYNC_STORE_URL=postgresql://user@host:5432/leadsync (see README, Scale-out)")
