"""Programs as leadsync's campaigns: browse and get through the Asset API, members with their
membership (and program member custom fields) through the REST API, via marketorestpython."""

from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.sandbox.fields import FieldDef

NO_ASSETS = "No assets found for the given search criteria."


def test_browse_programs_pages_by_offset_and_filters_by_update_time(client, wire, sandbox):
    programs = client.execute("browse_programs", maxReturn=5)  # three pages: 5, 5, 2
    assert len(programs) == 12 and len({p["id"] for p in programs}) == 12
    first = programs[0]
    assert {"id", "name", "description", "createdAt", "updatedAt", "url", "type", "channel", "folder", "status",
            "workspace"} <= set(first) and "tags" not in first
    assert first["createdAt"].endswith("Z+0000")

    recent = wire.get("/rest/asset/v1/programs.json", earliestUpdatedAt="2026-08-01T00:00:00Z",
                      latestUpdatedAt="2026-12-01T00:00:00-05:00")
    assert recent["success"] and recent["errors"] == [] and recent["warnings"] == []
    assert 0 < len(recent["result"]) < 12 and all(p["updatedAt"] >= "2026-08-01" for p in recent["result"])
    none = wire.get("/rest/asset/v1/programs.json", earliestUpdatedAt="2030-01-01T00:00:00Z")
    assert none["success"] and "result" not in none and none["warnings"] == [NO_ASSETS]


def test_program_by_id_and_by_name_carry_tags_and_costs(client, wire):
    (program,) = client.execute("get_program_by_id", id=1002)
    assert program["name"] == "RSA Conference 2026 Booth" and program["channel"] == "Tradeshow"
    assert program["tags"] == [{"tagType": "Region", "tagValue": "EMEA"}]
    assert program["costs"][0]["startDate"] <= program["createdAt"][:10] and program["costs"][0]["cost"] > 0
    assert client.execute("get_program_by_name", name="Endpoint Nurture")[0]["type"] == "Engagement"
    assert wire.get("/rest/asset/v1/program/99.json")["warnings"] == [NO_ASSETS]


def test_leads_by_program_carry_their_membership_and_page(client, sandbox):
    expected = sandbox.db.scalar("SELECT count(*) FROM program_members WHERE programId = 1003")
    leads = client.execute("get_multiple_leads_by_program_id", programId=1003, fields="email,company,country",
                           batchSize=3)
    assert len(leads) == expected > 3 and len({lead["id"] for lead in leads}) == expected
    membership = leads[0]["membership"]
    assert {"progressionStatus", "acquiredBy", "reachedSuccess", "membershipDate"} <= set(membership)
    assert membership["progressionStatus"] in {"Sent", "Opened", "Clicked"}  # an Email Blast program
    assert membership["reachedSuccess"] == (membership["progressionStatus"] == "Clicked")


def test_program_members_answer_custom_member_fields_and_filters(make_wire):
    partner_code = FieldDef("leadsyncPartnerCode", "Partner Code")
    with MarketoSandbox(seed_leads=30, program_member_fields=[partner_code]) as sandbox:
        wire = make_wire(sandbox)
        program = sandbox.programs.create("Partner Webinar", channel="Webinar")
        sandbox.programs.add_members(program, [1, 2], status="Attended", custom={"leadsyncPartnerCode": "NW-01"})
        sandbox.programs.add_members(program, [3], status="Registered")
        (described,) = wire.get("/rest/v1/programs/members/describe.json")["result"]
        assert ["leadsyncPartnerCode"] in described["searchableFields"]

        by_code = wire.get(f"/rest/v1/programs/{program}/members.json", filterType="leadsyncPartnerCode",
                           filterValues="NW-01", fields="leadId,statusName,reachedSuccess,leadsyncPartnerCode")
        assert by_code["result"] == [
            {"seq": 0, "leadId": 1, "statusName": "Attended", "reachedSuccess": True, "leadsyncPartnerCode": "NW-01"},
            {"seq": 1, "leadId": 2, "statusName": "Attended", "reachedSuccess": True, "leadsyncPartnerCode": "NW-01"}]
        by_lead = wire.get(f"/rest/v1/programs/{program}/members.json", filterType="leadId", filterValues="3")
        assert by_lead["result"] == [{"seq": 0, "acquiredBy": True, "leadId": 3, "membershipDate":
                                      by_lead["result"][0]["membershipDate"], "programId": program,
                                      "reachedSuccess": False}]
        assert wire.get("/rest/v1/leads/3/programMembership.json")["result"][-1]["id"] == program
        unknown = wire.get("/rest/v1/leads/programs/4242.json")
        assert unknown["success"] is False and unknown["errors"][0]["code"] == "1013"
