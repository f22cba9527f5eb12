"""Why a lead went where it went (`leadsync explain`), and where stored leads would go under changed rules
(`leadsync route --dry-run`), without writing anything.

Both print stored lead values to an operator's terminal, and the dry run's frame is what `--out` writes as
CSV: control characters are shown as escapes, never sent (an ESC from a lead's field would start an ANSI sequence
that repaints the screen, a CR would overwrite what was printed), and the frame's text cells are made inert
for spreadsheets (leadsync/csv_safe.py)."""

from __future__ import annotations

import re

import pandas as pd
import sqlalchemy as sa
from tabulate import tabulate

from leadsync.config.partners import PartnersConfig
from leadsync.csv_safe import neutralise
from leadsync.config.schema import SourceConfig
from leadsync.intake import leads_frame
from leadsync.routing.engine import RoutingState, route
from leadsync.store import LeadStore, tables

# C0 and C1 controls (ESC, CR, backspace; 0x9b is a one-character CSI) and the bidirectional overrides that
# reorder text on screen
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(value: object) -> str:
    """A value as text safe to print: each control character shown as its escape (ESC as \\x1b, CR as \\r)."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


STEP_TEXT = {
    "protected_account": "account protection",
    "upload_partner": "partner chosen for the upload",
    "conflict": "channel conflict",
    "named_partner": "partner named on the lead",
    "rule_group": "rule group",
    "default_partner": "default partner",
    "none": "no partner: unassigned queue",
    "manual": "by hand",
    "timeout": "acceptance timed out",
}


def explain(store: LeadStore, lead_id: str) -> str:
    """A readable account of one lead's routing: the lead, its current decision, and every decision taken."""
    with store.begin() as conn:
        lead = next(iter(conn.execute(sa.select(tables.leads).where(tables.leads.c.lead_id == lead_id)).mappings().all()), None)
        if lead is None:
            return f"lead '{lead_id}' is not in the store"
        h = tables.assignment_history
        history = store.read_frame(conn, sa.select(h).where(h.c.lead_id == lead_id).order_by(h.c.version))
    lines = [f"lead {lead_id} from source '{lead['source']}' (file batch {lead['batch_id'][:12]}, row "
             + f"{lead['row_number']})"]
    shown = {k: lead[k] for k in ("email", "company", "country", "state", "postal_code", "lead_type", "products",
                                  "account_id", "partner_name") if lead.get(k)}
    lines += [f"  {k}: {v}" for k, v in shown.items()]
    if history.empty:
        lines.append("not routed yet")
        return printable_lines(lines)
    last = history.iloc[-1]
    lines.append("")
    lines.append(f"now: {last['status']}" + (f" with {last['partner_id']}" if last["partner_id"] else "")
                 + (f", rep {last['rep_name']} <{last['rep_email']}>" if last["rep_email"] else ""))
    for _, d in history.iterrows():
        lines.append("")
        lines.append(f"v{d['version']} {d['decided_at']:%Y-%m-%d %H:%M:%S}Z  {d['action']} by {d['decided_by']}"
                     f" (attempt {d['attempt']})")
        lines.append(f"  decided by: {STEP_TEXT.get(d['step'], d['step'])}"
                     + (f" '{d['rule_group']}'" if d["rule_group"] else ""))
        if d["candidates"]:
            candidates = d["candidates"].split(",")
            label = "partner already working this buyer" if d["step"] == "conflict" else \
                "partners that could take it with the missing value" if d["status"] == "needs_review" else \
                "offered to" if d["action"] in ("offered", "claimed", "offer_expired") else "candidates"
            lines.append(f"  {label} ({len(candidates)}): {', '.join(candidates)}")
            if pd.notna(d["rr_slot"]):
                lines.append(f"  round robin: slot {int(d['rr_slot']) + 1} of set {d['rr_key']}")
        lines.append(f"  partner: {d['partner_id'] or '-'}    status: {d['status']}")
        lines.append(f"  why: {d['reason']}")
    return printable_lines(lines)


def printable_lines(lines: list[str]) -> str:
    return "\n".join(map(printable, lines))


def dry_run(store: LeadStore, sources: list[SourceConfig], current: PartnersConfig,
            changed: PartnersConfig) -> pd.DataFrame:
    """Route every stored lead under the current and the changed rules, in memory, from the same fresh
    round-robin state, and compare. Nothing is written.

    change: none | round_robin (same candidates, another turn) | partner | status. The frame is a report (the
    CLI's `--out` writes it as CSV for a person to open): its text cells are made inert for spreadsheets."""
    frames = []
    with store.begin() as conn:
        a = tables.assignments
        now = store.read_frame(conn, sa.select(a.c.lead_id, a.c.partner_id.label("current_partner"),
                                               a.c.status.label("current_status")))
        for cfg in sources:
            leads = leads_frame(store, conn, cfg, sa.true())
            if leads.empty:
                continue
            leads = leads.sort_values(["received_at", "batch_id", "row_number"], kind="stable").reset_index(drop=True)
            before = route(leads, current, cfg, RoutingState()).decisions
            after = route(leads, changed, cfg, RoutingState()).decisions
            frame = pd.DataFrame({
                "lead_id": leads["lead_id"], "source": cfg.name, "email": leads["email"],
                "rules_partner": before["partner_id"], "rules_status": before["status"],
                "rules_candidates": before["candidates"],
                "new_partner": after["partner_id"], "new_status": after["status"], "new_step": after["step"],
                "new_group": after["rule_group"], "new_candidates": after["candidates"], "new_reason": after["reason"],
            })
            frames.append(frame)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True).merge(now, on="lead_id", how="left")
    same_partner = out["rules_partner"].fillna("") == out["new_partner"].fillna("")
    same_status = out["rules_status"] == out["new_status"]
    same_set = out["rules_candidates"].fillna("") == out["new_candidates"].fillna("")
    out["change"] = "partner"
    out.loc[same_partner & same_status, "change"] = "none"
    out.loc[~same_partner & same_status & same_set & out["new_candidates"].notna(), "change"] = "round_robin"
    out.loc[~same_status, "change"] = "status"
    text = out.select_dtypes(include="object").columns
    out[text] = out[text].apply(lambda column: column.map(neutralise, na_action="ignore"))
    return out


def format_dry_run(frame: pd.DataFrame, show_all: bool = False, limit: int | None = 50) -> str:
    if frame.empty:
        return "no stored leads to route"
    counts = frame["change"].value_counts()
    lines = [f"{len(frame)} stored leads routed with the changed rules; nothing was written.",
             "changes: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("partner", "status", "round_robin", "none"))]
    moved = frame[frame["change"].isin(["partner", "status"])]
    flows = moved.groupby([moved["rules_partner"].fillna("(" + moved["rules_status"] + ")"),
                           moved["new_partner"].fillna("(" + moved["new_status"] + ")")]).size()
    if len(flows):
        lines.append("moves (from → to: leads):")
        lines += [f"  {printable(a)} → {printable(b)}: {n}"
                  for (a, b), n in flows.sort_values(ascending=False).items()]
    rows = frame if show_all else frame[frame["change"] != "none"]
    shown = rows if limit is None else rows.head(limit)
    if len(shown):
        lines.append("")
        table = shown[["lead_id", "email", "current_partner", "rules_partner", "new_partner", "new_status",
                       "new_step", "new_group", "change"]].fillna("-")
        lines.append(tabulate(table.map(printable), headers="keys", tablefmt="simple", showindex=False))
        if len(rows) > len(shown):
            lines.append(f"… {len(rows) - len(shown)} more (use --limit 0 or --out FILE.csv for every lead)")
    return "\n".join(lines)
