"""Which profile the code location runs under, and what that changes.

LEADSYNC_PROFILE=embedded (default): one process, the in-process executor, a DuckDB store.
LEADSYNC_PROFILE=scale: steps go to Celery workers over RabbitMQ (dagster-celery), the Dagster instance and
the lead store are on Postgres. The executor's settings come from the same celery.yaml the workers start
with ($LEADSYNC_CELERY_CONFIG, default dagster_home/scale/celery.yaml), so both sides agree.
"""

import os
import warnings
from pathlib import Path

import dagster as dg
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


def executor_for(profile: str, store_url: str | None = None) -> dg.ExecutorDefinition:
    if profile == "scale":
        from celery.exceptions import DuplicateTaskNameWarning
        from dagster_celery import celery_executor

        # dagster-celery registers its `execute_plan` task on the orchestrating process's Celery app again for
        # every step it submits (dagster_celery/executor.py `_submit_task` calls `create_task(app)`, a new
        # closure each time), and Celery >= 5.7 warns that the name now belongs to another callable. Harmless:
        # the orchestrator only builds the task's signature to send it by name; the workers run the task that
        # dagster_celery.app registered once. Only that name's warning is silenced.
        warnings.filterwarnings("ignore", message=r"Task name 'execute_plan' is already registered",
                                category=DuplicateTaskNameWarning)
        require_shared_store(store_url)
        return celery_executor.configured(celery_config(), name="celery")
    # The embedded default keeps every step in one process: the DuckDB file has one writer.
    return dg.in_process_executor


def pools_of(defs: dg.Definitions) -> set[str]:
    """Every concurrency pool the code location's assets use."""
    graph = defs.resolve_asset_graph()
    return {pool for key in graph.get_all_asset_keys()
            if (pool := getattr(graph.get(key).assets_def.op, "pool", None))}


def set_pool_limits(instance: dg.DagsterInstance, pools: set[str], limit: int = 1) -> None:
    """Give every pool its limit explicitly, as `dagster instance concurrency set POOL 1` does.

    Left to `pools.default_limit`, Dagster creates a pool's limit row the first time a step claims it, with an
    INSERT that fails on Postgres when the row exists already (two runs claiming a new pool at once, or a
    changed default): the run crashes (dagster-io/dagster#33552). A limit set explicitly is never created on
    the fly. `run_on_workers` (so `leadsync scale` and the tests) and the benchmark call this; a deployment
    runs `dagster instance concurrency set leadsync_source_<name> 1` for each source (and `lead_store`)."""
    storage = instance.event_log_storage
    current = {p.name: p for p in storage.get_pool_limits()}
    for pool in sorted(pools):
        if pool not in current or current[pool].limit != limit or current[pool].from_default:
            storage.set_concurrency_slots(pool, limit)