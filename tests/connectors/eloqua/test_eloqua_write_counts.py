"""The instance counts the writes it serves per (object, record, field): a Bulk import row counts each field it
gave on the contact it reached, the same import replayed counts twice, a rejected row counts nothing; REST
updates and custom object imports are counted the same way. Seeding is not a served write."""

from __future__ import annotations


def test_an_import_counts_each_field_once_and_a_replay_twice(eloqua, bulk, field):
    contact = eloqua.state.contacts.row(0)
    email, contact_id = contact["C_EmailAddress"], str(contact["id"])
    fields = {"email": field("C_EmailAddress"), "title": field("C_Title")}
    rows = [{"email": email, "title": "CTO"}]
    assert bulk.import_rows(fields, "email", rows)["status"] == "success"
    assert eloqua.write_counts() == {("contacts", contact_id, "C_EmailAddress"): 1, ("contacts", contact_id, "C_Title"): 1}
    bulk.import_rows(fields, "email", rows)  # the same import again: the vendor shows two writes
    assert eloqua.write_counts("contacts")[("contacts", contact_id, "C_Title")] == 2


def test_a_rejected_row_counts_nothing(eloqua, bulk, field):
    first, second = (eloqua.state.contacts.row(i)["C_EmailAddress"] for i in (1, 2))
    eloqua.reject_next_import_of(first)
    done = bulk.import_rows({"email": field("C_EmailAddress"), "title": field("C_Title")}, "email",
                            [{"email": first, "title": "CTO"}, {"email": second, "title": "CFO"}])
    assert done["status"] == "warning"
    second_id = str(eloqua.contact(second)["id"])
    assert {k[1] for k in eloqua.write_counts()} == {second_id}


def test_a_rest_update_and_a_custom_object_import_are_counted(eloqua, conn, bulk):
    contact = eloqua.state.contacts.row(5)
    answer = conn.session.put(f"{conn.rest()}/data/contact/{contact['id']}",
                              json={"id": str(contact["id"]), "emailAddress": contact["C_EmailAddress"],
                                    "title": "Head of IT"})
    assert answer.status_code == 200, answer.text
    assert eloqua.write_counts("contacts")[("contacts", str(contact["id"]), "C_Title")] == 1

    # LeadSync Opportunity (custom object 1), keyed by External Id (field 101)
    fields = {"key": "{{CustomObject[1].Field[101]}}", "name": "{{CustomObject[1].Field[103]}}"}
    rows = [{"key": "OPP-1", "name": "Firewall refresh"}]
    assert bulk.import_rows(fields, "key", rows, entity="customObjects/1")["status"] == "success"
    bulk.import_rows(fields, "key", rows, entity="customObjects/1")  # replayed: the same record, written again
    [record] = eloqua.custom_object_records(1)
    assert eloqua.write_counts("customObjects/1") == {("customObjects/1", str(record["id"]), "f101"): 2,
                                                      ("customObjects/1", str(record["id"]), "f103"): 2}
