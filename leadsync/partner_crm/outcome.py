"""How one partner's CRM work went in one run: counts, and every failure with its reason."""

from __future__ import annotations

from dataclasses import dataclass, field

# kind of failure → whether it is emailed at once (config and record problems need someone to act;
# transient ones are emailed only when they keep failing run after run)
FAILURE_KINDS = {"config": True, "record": True, "apply": True, "quota": False, "transient": False,
                 "unexpected": True}


@dataclass
class PartnerOutcome:
    partner_id: str
    delivered: int = 0
    withdrawn: int = 0
    changes_read: int = 0
    events: int = 0  # lifecycle events made from the CRM's changes
    failures: list[tuple[str, str]] = field(default_factory=list)  # (kind, reason)
    notes: list[str] = field(default_factory=list)  # done differently than asked, or not taken over
    sources: set[str] = field(default_factory=set)  # sources of the leads concerned (their contacts hear of it)

    def fail(self, kind: str, reason: str, source: str | None = None) -> None:
        self.failures.append((kind, reason))
        if source:
            self.sources.add(source)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def reasons(self) -> list[str]:
        return [reason for _, reason in self.failures]

    @property
    def urgent(self) -> bool:
        return any(FAILURE_KINDS.get(kind, True) for kind, _ in self.failures)
