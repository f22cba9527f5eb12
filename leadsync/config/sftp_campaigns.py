"""`campaign_columns:` of an SFTP source: columns of the dropped file that describe the row's campaign (the
campaign the lead field `campaign` names), mapped like lead fields. `description`, `start_date` and
`end_date` are the campaign's own (shown with its name); any other field is a custom campaign field shown
to partners by its `label`, or kept internal with `shared: false`, as the API sources' `pull.campaigns.fields`."""

from __future__ import annotations

from pydantic import Field

from leadsync.config.partners import Strict

STANDARD_CAMPAIGN_FIELDS = ("description", "start_date", "end_date")


class CampaignColumn(Strict):
    column: str = Field(min_length=1, max_length=200, description="Column of the file, matched case-insensitively.")
    field: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=120,
                       description="description, start_date, end_date, or a custom campaign field's name.")
    label: str | None = Field(None, max_length=120, description="Label partners see; defaults to the column.")
    shared: bool = Field(True, description="Shown to partners (emails, portal, reports); false keeps it internal.")

    @property
    def display_label(self) -> str:
        return self.label or self.column


def check_campaign_columns(columns: list[CampaignColumn], mapped: list[str]) -> None:
    """ValueError naming the problem: campaign columns without a `campaign` lead field to name the campaign,
    or a field or column given twice."""
    if not columns:
        return
    if "campaign" not in mapped:
        raise ValueError("campaign_columns describe the row's campaign, which the lead field 'campaign' names: "
                         "map the file's campaign column to the field 'campaign' under 'fields'")
    for what, values in (("fields", [c.field for c in columns]), ("columns", [c.column.strip().lower() for c in columns])):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(f"campaign_columns: {what} given twice: {twice}")
