"""Nurture enrolment as part of an API source's writeback: the sales statuses a batch carries decide, per
source record, whether the record joins the source's nurture campaign / program / list (`nurture.enrol_on`,
by default Contacted and Nurture) or leaves it (`nurture.remove_on`: Unqualified/Invalid and Converted
Opportunity). Only each record's latest status in the batch counts, so a lead moved Contacted → Nurture →
Unqualified within one batch is removed, once. The result lands on the events that carried the status: a
refusal makes them pending again (with the vendor's reason), and the connectors make enrol and remove
idempotent, so the retry does nothing twice."""

from __future__ import annotations

import pandas as pd

from leadsync.connectors.source_api import NurtureTarget
from leadsync.config.schema import ApiSource


def nurture_changes(cfg: ApiSource, events: pd.DataFrame, payloads: pd.DataFrame) -> pd.DataFrame:
    """key (= record_id), record_id, action (enrol | remove) per record whose latest status in the batch
    asks for one; empty when the source has no `nurture:` or no event carries a sales status."""
    if cfg.nurture is None or "sales_status" not in payloads or events.empty:
        return pd.DataFrame(columns=["key", "record_id", "action"])
    status = payloads["sales_status"]
    carrying = status.notna() & events["source_record_id"].notna()
    latest = (pd.DataFrame({"record_id": events.loc[carrying, "source_record_id"].astype(str),
                            "status": status[carrying]}).groupby("record_id", sort=True)["status"].last())
    action = latest.map(lambda s: "enrol" if s in cfg.nurture.enrol_on else
                        "remove" if s in cfg.nurture.remove_on else None).dropna()
    return pd.DataFrame({"key": action.index, "record_id": action.index, "action": action.to_numpy()})


def target_of(cfg: ApiSource) -> NurtureTarget:
    n = cfg.nurture
    return NurtureTarget(kind=n.target, id=n.id, member_status=n.member_status)


def apply_nurture(cfg: ApiSource, source, events: pd.DataFrame, payloads: pd.DataFrame,
                  outcome: pd.Series) -> int:
    """Send the enrolment changes of this batch; a refused record's error goes to its status events (those
    not failed already). Returns how many records changed enrolment."""
    changes = nurture_changes(cfg, events, payloads)
    if changes.empty:
        return 0
    results = source.nurture(target_of(cfg), changes)
    errors = {str(k): e for k, ok, e in results[["key", "ok", "error"]].itertuples(index=False, name=None)
              if not ok}
    missing = set(changes["key"].astype(str)) - set(results["key"].astype(str))
    errors.update({k: "no nurture result returned by the source for this record" for k in missing})
    if errors:
        carrying = payloads["sales_status"].notna() & events["source_record_id"].astype(str).isin(errors)
        for i in events.index[carrying & outcome.isna()]:
            outcome[i] = f"nurture: {errors[str(events.at[i, 'source_record_id'])]}"
    return len(changes) - len(errors)
