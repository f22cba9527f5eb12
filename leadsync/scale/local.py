"""`leadsync scale` (`make scale`): the scale profile on this machine, in one command.

Creates the two Postgres databases if missing (the lead store and Dagster's storage), starts the demo's
SFTP and SMTP sandboxes with seeded lead files, starts Celery workers with dagster-celery's own command, runs
the `leadsync` job with its steps on those workers, prints the summary, and with --serve keeps everything
up under `dagster dev` (webserver + daemon: schedules, sensors, the queued run coordinator) until Ctrl-C.

Where things are (each can be overridden in the environment or .env):
  LEADSYNC_PG_ADMIN_URL    a database to connect to for CREATE DATABASE (default: postgres@127.0.0.1/test)
  LEADSYNC_STORE_URL       the lead store (default: database leadsync_scale)
  LEADSYNC_DAGSTER_PG_URL  Dagster's run/event/schedule storage (default: database leadsync_scale_dagster)
  DAGSTER_HOME             dagster_home/scale (dagster.yaml and celery.yaml live there)
  LEADSYNC_REDIS_URL       where the workers share each source's API budget (default redis://127.0.0.1:6379/0)
  LEADSYNC_CELERY_QUEUE    the Celery queue of this deployment (default dagster-celery's `dagster`)
"""

import os

import sqlalchemy as sa

from leadsync.scale.profile import SCALE_HOME

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def scale_environment() -> dict[str, str]:
    """The variables the scale profile runs with: what is set wins, the rest get the local defaults."""
    admin = sa.engine.make_url(os.environ.get("LEADSYNC_PG_ADMIN_URL", ADMIN_URL))
    store = admin.set(drivername="postgresql+psycopg", database="leadsync_scale")
    # dagster-postgres speaks psycopg2, and SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql://
    dagster = admin.set(drivername="postgresql+psycopg2", database="leadsync_scale_dagster")
    return {
        "LEADSYNC_PROFILE": "scale",
        "LEADSYNC_STORE_URL": os.environ.get("LEADSYNC_STORE_URL") or store.render_as_string(hide_password=False),
        "LEADSYNC_DAGSTER_PG_URL": os.environ.get("LEADSYNC_DAGSTER_PG_URL")
        or dagster.render_as_string(hide_password=False),
        "DAGSTER_HOME": str(SCALE_HOME),
        # one API budget per source across the workers (connectors/api_budget/)
        "LEADSYNC_REDIS_URL": os.environ.get("LEADSYNC_REDIS_URL") or "redis://127.0.0.1:6379/0",
    }


def ensure_databases(env: dict[str, str]) -> None:
    """CREATE DATABASE for the store and Dagster's storage when they do not exist yet."""
    admin = sa.create_engine(os.environ.get("LEADSYNC_PG_ADMIN_URL", ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for key in ("LEADSYNC_STORE_URL", "LEADSYNC_DAGSTER_PG_URL"):
                name = sa.engine.make_url(env[key]).database
                exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).all()
                if not exists:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()


def pending_writeback(store) -> list[dict]:
    """The outbox events not written back yet, grouped by what they are and why they wait: one row per
    (source, kind, status label, reason) with its count."""
    from leadsync.writeback.outbox import event_states

    states = event_states().subquery()
    with store.begin() as conn:
        waiting = store.read_frame(conn, sa.select(states.c.source, states.c.kind, states.c.distribution_status,
                                                   states.c.state, states.c.last_error)
                                   .where(states.c.state != "sent"))
    if waiting.empty:
        return []
    waiting["label"] = waiting["distribution_status"].fillna("")
    waiting["why"] = [_why_pending(row) for row in waiting.itertuples()]
    grouped = waiting.groupby(["source", "kind", "label", "why"]).size()
    return [{"source": s, "kind": k, "label": lab, "why": why, "events": int(n)}
            for (s, k, lab, why), n in grouped.sort_index().items()]


def _why_pending(row) -> str:
    if row.state == "prepared":  # its batch is prepared, not sent
        return (f"in a batch {row.source}'s writeback prepared but did not record as sent (interrupted between "
                "send and record): the next writeback sends that same batch again first")
    if isinstance(row.last_error, str) and row.last_error:
        return f"refused by {row.source} ({row.last_error[:120]}): retried by the next writeback"
    # a writeback takes every pending event of its source into its batch (writeback/outbox.py prepare_batch), so
    # one still pending was recorded after the source's last writeback step took its batch
    what = ("leads an auto-accept partner accepted at once in partners/deliveries, which runs beside the "
            "sources' writeback steps" if row.label == "Accepted" else "recorded by a step that ran beside it")
    return f"recorded after {row.source}'s writeback had taken its batch ({what}): sent by the next writeback run"


def format_pending(rows: list[dict]) -> str:
    """The summary's 'pending' explained: what waits to be written back, and why."""
    total = sum(r["events"] for r in rows)
    if not total:
        return "pending writeback: none (every outbox event is written back)"
    lines = [f"pending writeback: {total} events not written back yet"]
    for r in rows:
        what = f"{r['kind']} {r['label']!r}" if r["label"] else r["kind"]
        lines.append(f"  {r['source']}: {r['events']} {what}: {r['why']}")
    lines.append("  (`make scale` keeps the daemon up: the sources' sync schedules write them back; or run "
                 "`leadsync scale` again)")
    return "\n".join(lines)
