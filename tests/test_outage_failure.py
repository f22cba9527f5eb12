"""A vendor outage that spent every retry ends the step as a Dagster failure that says so (which vendor and
endpoint, nothing lost, where the next run resumes), with the outage's facts as failure metadata."""

import dagster as dg
import pytest

from leadsync.connectors.api_client import ApiTransientError, SourceOutage
from leadsync.defs.errors import source_errors


def test_an_outage_becomes_the_runs_failure_with_its_facts():
    cause = ApiTransientError("503 Service Unavailable", None, 503, None)
    outage = SourceOutage("Marketo: POST /bulk/v1/leads/export/create.json failed after 6 tries; nothing was "
                          "lost, the next run resumes from the watermark",
                          {"vendor": "Marketo", "endpoint": "/bulk/v1/leads/export/create.json", "attempts": 6},
                          cause)
    with pytest.raises(dg.Failure) as failure, source_errors("marketo_demo"):
        raise outage
    assert "nothing was lost" in failure.value.description and "marketo_demo" in failure.value.description
    assert failure.value.metadata["endpoint"].value == "/bulk/v1/leads/export/create.json"
    assert failure.value.metadata["attempts"].value == 6
    assert failure.value.allow_retries
