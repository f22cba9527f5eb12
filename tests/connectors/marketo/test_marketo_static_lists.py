"""Static lists and deleted leads (issue 18) through marketorestpython's own calls: Get Lists, Get Leads by
List Id, Add to / Remove from List, Member of List, activities by `listId`, 1013 for an unknown list; Delete
Leads and Get Deleted Leads."""

import pytest


def test_list_based_pull_and_membership_changes(client, sandbox):
    lists = client.execute("get_multiple_lists", name="Newsletter Subscribers")
    (newsletter,) = lists
    members = sandbox.lists.member_ids(newsletter["id"])

    pulled = client.execute("get_multiple_leads_by_list_id", listId=newsletter["id"], fields="email,firstName",
                            batchSize=25)
    added = client.execute("add_leads_to_list", listId=newsletter["id"], id=[2, 999999])
    check = client.execute("member_of_list", listId=newsletter["id"], id=[1, 2, 3])
    removed = client.execute("remove_leads_from_list", listId=newsletter["id"], id=[2, 3])

    assert newsletter["name"] == "Newsletter Subscribers" and len(members) == 80  # every 5th of 400 leads
    assert [lead["id"] for lead in pulled] == members and all("email" in lead for lead in pulled)
    assert added == [{"id": 2, "status": "added"},
                     {"id": 999999, "status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]}]
    assert [r["status"] for r in check] == ["memberof", "memberof", "notmemberof"]
    assert removed == [{"id": 2, "status": "removed"},
                       {"id": 3, "status": "skipped", "reasons": [{"code": "1015", "message": "Lead not in list"}]}]


def test_activities_by_list_and_an_unknown_list(wire, sandbox):
    (listed,) = wire.get("/rest/v1/lists.json", name="Partner Program Invitees")["result"]
    members = set(sandbox.lists.member_ids(listed["id"]))
    token = wire.get("/rest/v1/activities/pagingtoken.json", sinceDatetime="2026-01-01T00:00:00Z")["nextPageToken"]

    page = wire.get("/rest/v1/activities.json", nextPageToken=token, activityTypeIds="1,12", listId=listed["id"])
    unknown = wire.get("/rest/v1/list/424242/leads.json")

    assert page["result"] and {a["leadId"] for a in page["result"]} <= members
    assert unknown["success"] is False and unknown["errors"][0]["code"] == "1013"


@pytest.mark.parametrize("path", ["/rest/v1/lists/424242.json", "/rest/v1/lists/424242/leads/ismember.json"])
def test_unknown_lists_are_1013(wire, path):
    answer = wire.get(path, id="1")

    assert answer["success"] is False and answer["errors"][0]["code"] == "1013"


def test_deleted_leads_leave_their_lists_and_show_in_get_deleted_leads(client, sandbox):
    (newsletter,) = client.execute("get_multiple_lists", name="Newsletter Subscribers")
    since = sandbox.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    deleted = client.execute("delete_lead", id=[1, 999999])
    log = client.execute("get_deleted_leads", sinceDatetime=since)

    assert deleted == [{"id": 1, "status": "deleted"},
                       {"id": 999999, "status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]}]
    assert [(a["leadId"], a["activityTypeId"]) for a in log] == [(1, 37)]
    assert 1 not in sandbox.lists.member_ids(newsletter["id"]) and client.execute("get_lead_by_id", id=1) == []
