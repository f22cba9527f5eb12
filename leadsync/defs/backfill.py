"""History in time windows: `<source>/backfill`, one Dagster partition per day, week or month since
`pull.backfill.start` (API sources whose YAML asks for it), and the `<source>_backfill` job to launch it.

A backfill of a year is a Dagster backfill of this job: one run per window, queued under the run tag
`leadsync/backfill` (dagster_home/scale/dagster.yaml lets a few windows of one source run at once, all
spending the source's one shared API budget) and spread over the Celery workers. Each window reads records
modified in [start, end) with a watermark of its own, so a window that fails reruns alone and resumes where
it stopped. Rows land in raw_rows like the incremental pull's (a record version already received, from any
window, is not stored twice); the source's next sync maps, routes and writes them back.

Only completed windows are partitions (the current one is the incremental pull's).
"""

from datetime import UTC

import dagster as dg
from pydantic import ValidationError

from leadsync import pipeline
from leadsync.config.api_sources import BackfillConfig
from leadsync.config.loader import ProjectPaths, source_yaml_leniently
from leadsync.defs.automation import HISTORY_TAG
from leadsync.defs.column_schemas import column_schema, raw_schema
from leadsync.defs.errors import source_errors
from leadsync.defs.owners import owners_from
from leadsync.defs.pools import STORE_POOL, store_kind
from leadsync.defs.resources import LeadsyncResource
from leadsync.defs.source_assets import RETRY, api_pull_result
from leadsync.pull.api_records import PullWindow
from leadsync.scale.profile import current_profile

PARTITIONS = {"day": dg.DailyPartitionsDefinition, "week": dg.WeeklyPartitionsDefinition,
              "month": dg.MonthlyPartitionsDefinition}


def declared_backfill(paths: ProjectPaths, source: str) -> BackfillConfig | None:
    """`pull.backfill`, read leniently: a file that does not validate gets no backfill asset (its sync run
    fails with the real error and emails its contacts)."""
    pull = source_yaml_leniently(paths, source).get("pull")
    raw = pull.get("backfill") if isinstance(pull, dict) else None
    if not raw:
        return None
    try:
        return BackfillConfig.model_validate(raw)
    except ValidationError:
        return None


def backfill_key(source: str) -> dg.AssetKey:
    return dg.AssetKey([source, "backfill"])


def build_backfill(paths: ProjectPaths, source: str, kind: str, backfill: BackfillConfig):
    """The partitioned history asset of `source` and the job that launches its backfills. It stores rows as
    raw_rows does (same columns, same owners); no freshness policy: its windows are history, read once."""
    partitions = PARTITIONS[backfill.window](start_date=backfill.start.isoformat())
    # scale: no pool, so a source's windows fan out over the workers (the run tag leadsync/backfill limits them)
    pool = None if current_profile() == "scale" else STORE_POOL
    declared = source_yaml_leniently(paths, source)

    @dg.asset(key=backfill_key(source), group_name=source, kinds={kind, store_kind()}, tags=dict([HISTORY_TAG]),
              pool=pool, partitions_def=partitions, retry_policy=RETRY, owners=owners_from(declared.get("contacts")),
              metadata=column_schema(raw_schema(declared, kind)),
              description=f"History of {source} read one {backfill.window} at a time since {backfill.start}, "
                          "each window with its own watermark; the next sync maps and routes what it stored.")
    def history(context: dg.AssetExecutionContext, leadsync: LeadsyncResource) -> dg.MaterializeResult:
        span = context.partition_time_window
        window = PullWindow(context.partition_key, span.start.astimezone(UTC), span.end.astimezone(UTC))
        with source_errors(source):
            report = pipeline.pull(leadsync.paths, leadsync.store(), source, window=window)
        if report.stopped:  # what was read is kept with the window's watermark; the rerun continues from it
            raise dg.Failure(f"{source} window {window.key} {report.stopped}. Rerun this partition once the "
                             "quota has reset: it resumes where it stopped.", allow_retries=False)
        result = api_pull_result(context, report)
        return dg.MaterializeResult(metadata={**result.metadata, "window_start": window.start.isoformat(),
                                              "window_end": window.end.isoformat()})

    job = dg.define_asset_job(f"{source}_backfill", selection=dg.AssetSelection.assets(history),
                              partitions_def=partitions, tags={"leadsync/backfill": source},
                              description=f"Read {source}'s history window by window (launch as a backfill).")
    return history, job


def backfills(paths: ProjectPaths, sources: list[tuple[str, str]]):
    """(assets, jobs) for every API source whose YAML has pull.backfill."""
    assets, jobs = [], []
    for name, kind in sources:
        config = declared_backfill(paths, name) if kind != "sftp" else None
        if config is not None:
            asset, job = build_backfill(paths, name, kind, config)
            assets.append(asset)
            jobs.append(job)
    return assets, jobs


