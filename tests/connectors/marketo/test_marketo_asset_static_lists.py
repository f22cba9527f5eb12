"""Static lists through the Asset API (Get Static Lists, by Id, by Name) and lead Bulk Extract with the
`staticListId` / `staticListName` filter, through marketorestpython's own calls (`browse_lists`,
`get_list_by_id`, `get_list_by_name`, `create_leads_export_job`, ...): lists the REST v1 list calls change are
the ones the Asset API shows and an extract exports."""

import csv
import io
import json

from leadsync.connectors.marketo.sandbox.programs import NO_ASSETS


def test_asset_api_browses_and_gets_the_seeded_lists(client, wire):
    browsed = client.execute("browse_lists", maxReturn=1)  # pages by offset until a short page
    by_id = client.execute("get_list_by_id", id=browsed[0]["id"])
    by_name = client.execute("get_list_by_name", name="Partner Program Invitees")
    in_folder = client.execute("browse_lists", folderId=12, folderType="Folder")
    raw = wire.raw("GET", "/rest/asset/v1/staticLists.json", params={"maxReturn": 200})

    assert [x["name"] for x in browsed] == ["Newsletter Subscribers", "Partner Program Invitees"]
    first = browsed[0]
    assert set(first) == {"id", "name", "description", "createdAt", "updatedAt", "folder", "computedUrl"}
    assert first["createdAt"].endswith("Z+0000") and first["folder"] == {"id": 12, "type": "Folder"}
    assert first["computedUrl"] == f"https://app-sj01.marketo.com/#ST{first['id']}A1"
    assert by_id == [first] and by_name == [browsed[1]] and in_folder == browsed
    assert raw.status_code == 200 and raw.headers["Content-Type"] == "application/json"
    body = raw.json()
    assert body["success"] is True and body["errors"] == [] and body["warnings"] == []
    assert body["result"] == browsed and body["requestId"]


def test_nothing_found_is_a_success_with_the_no_assets_warning(wire):
    for path, params in (("/rest/asset/v1/staticList/424242.json", {}),
                         ("/rest/asset/v1/staticList/byName.json", {"name": "No Such List"}),
                         ("/rest/asset/v1/staticLists.json", {"folder": json.dumps({"id": 99, "type": "Program"})}),
                         ("/rest/asset/v1/staticLists.json", {"offset": 2})):
        answer = wire.get(path, **params)
        assert answer["success"] is True and "result" not in answer, path
        assert answer["errors"] == [] and answer["warnings"] == [NO_ASSETS], path
    bad = wire.get("/rest/asset/v1/staticLists.json", maxReturn=201)
    assert bad["success"] is False and bad["errors"][0]["code"] == "1003" and bad["warnings"] == []


def test_list_changes_show_in_updated_at_and_in_a_static_list_extract(client, sandbox):
    (listed,) = client.execute("get_list_by_name", name="Partner Program Invitees")
    sandbox.clock.advance(60)
    added = client.execute("add_leads_to_list", listId=listed["id"], id=[2, 3])
    later = sandbox.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = client.execute("browse_lists", earliestUpdatedAt=later)

    by_id = _extract(client, sandbox, {"staticListId": listed["id"]})
    by_name = _extract(client, sandbox, {"staticListName": "Partner Program Invitees"})

    members = sandbox.lists.member_ids(listed["id"])
    assert added == [{"id": 2, "status": "added"}, {"id": 3, "status": "added"}]
    assert [x["id"] for x in changed] == [listed["id"]] and changed[0]["updatedAt"] > listed["updatedAt"]
    assert by_id[0] == ["id", "email"] and [int(r[0]) for r in by_id[1:]] == members and {2, 3} <= set(members)
    assert by_name == by_id
    assert all(r[1] == client.execute("get_lead_by_id", id=int(r[0]), fields=["email"])[0]["email"]
               for r in by_id[1:4])


def _extract(client, sandbox, filters):
    (job,) = client.execute("create_leads_export_job", fields=["id", "email"], filters=filters)
    client.execute("enqueue_leads_export_job", job_id=job["exportId"])
    sandbox.exports.poke()
    sandbox.exports.wait_idle()
    (done,) = client.execute("get_leads_export_job_status", job_id=job["exportId"])
    data = client.execute("get_leads_export_job_file", job_id=job["exportId"])
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert done["status"] == "Completed" and done["numberOfRecords"] == len(rows) - 1
    return rows
