"""When a source's run fails, its supplier contacts get an email: which source, what went wrong and how to fix
it (the step's own message), the run id and a link to the run in the Dagster UI.

A run fails at once for a configuration problem (Failure without retries) and only after its retries for a
transient one, so one email per failed run is exactly "misconfigured, or retries exhausted". Recipients are
the failing source's `contacts`; they are read leniently, so a source whose YAML no longer validates still
reaches its people. Mail goes through lifecycle.yaml's SMTP server.
"""

import os
from email.message import EmailMessage
from pathlib import Path

import dagster as dg

from leadsync.config.loader import ProjectPaths, source_yaml_leniently
from leadsync.defs.resources import LeadsyncResource
from leadsync.lifecycle.settings import load_settings
from leadsync.lifecycle.smtp import Mailer

UI_URL_ENV = "LEADSYNC_DAGSTER_URL"  # how suppliers' admins reach the Dagster UI (default http://127.0.0.1:3000)


def source_contacts(paths: ProjectPaths, source: str) -> list[str]:
    """The `contacts` of a source file, read without validating the rest of it."""
    contacts = source_yaml_leniently(paths, source).get("contacts")
    return [c for c in contacts if isinstance(c, str) and "@" in c] if isinstance(contacts, list) else []


def failures_by_source(context: dg.RunFailureSensorContext) -> dict[str, list[str]]:
    """Source name → the failure messages of its steps (step keys are `<source>__<asset>`)."""
    found: dict[str, list[str]] = {}
    for event in context.get_step_failure_events():
        step = event.step_key or ""
        source, _, asset = step.partition("__")
        if not asset or source == "partners":
            continue
        data = event.step_failure_data
        text = (data.user_failure_data.description if data.user_failure_data and data.user_failure_data.description
                else data.error.message if data.error else "the step failed")
        found.setdefault(source, []).append(f"{asset}: {text.strip()}")
    return found


def failure_email(source: str, messages: list[str], run_id: str, job: str, sender: str) -> EmailMessage:
    base = os.environ.get(UI_URL_ENV, "http://127.0.0.1:3000").rstrip("/")
    first = messages[0].split(": ", 1)[-1]
    msg = EmailMessage()
    msg["Subject"] = f"leadsync: source '{source}' failed: {first[:120]}"
    msg["From"] = sender
    msg.set_content("\n".join([
        f"A leadsync run for the source '{source}' failed.",
        "",
        *[f"- {m}" for m in messages],
        "",
        f"Run: {run_id} (job {job})",
        f"In the Dagster UI: {base}/runs/{run_id}",
        "",
        "Configuration problems are not retried: fix what the message says and the next scheduled run picks",
        "it up. Transient problems (timeouts, server errors, rate limits) were retried before this email.",
    ]))
    return msg


@dg.run_failure_sensor(name="supplier_failure_email", default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Emails a failed source's supplier contacts: cause, fix, run id and a link.")
def supplier_failure_email(context: dg.RunFailureSensorContext, leadsync: LeadsyncResource) -> None:
    failed = failures_by_source(context)
    if not failed:
        return
    paths = leadsync.paths
    lifecycle_file = Path(paths.mappings) / "lifecycle.yaml"
    try:
        smtp = load_settings(lifecycle_file).smtp
    except Exception as exc:  # noqa: BLE001 - any reason the mail settings are unusable is logged, not raised
        context.log.error(f"cannot email about failed sources {sorted(failed)}: {lifecycle_file}: {exc}")
        return
    run = context.dagster_run
    messages = []
    for source, problems in sorted(failed.items()):
        to = source_contacts(paths, source)
        if not to:
            context.log.warning(f"source '{source}' failed but its YAML lists no contacts to email")
            continue
        msg = failure_email(source, problems, run.run_id, run.job_name, smtp.from_address)
        msg["To"] = ", ".join(to)
        messages.append((source, msg))
    results = Mailer(smtp).send(messages)
    for result in results:
        if result.ok:
            context.log.info(f"emailed the contacts of '{result.key}' about run {run.run_id}")
        else:
            context.log.error(f"could not email the contacts of '{result.key}': {result.error}")
