"""The supplier's own custom contact fields that routing reads, C_Lead_Type1 and C_Product_Interest1: listed by
the Bulk and Application APIs' contact field metadata like any admin's custom field, exported by Bulk API
statements, and seeded with values; countries and states are ISO codes, as routing compares them."""

import json

import pyarrow.parquet as pq

from leadsync.connectors.eloqua.sandbox import EloquaSandbox

PRODUCTS = {"Firewall", "Endpoint", "Cloud Backup", "SD-WAN", "Email Security"}


def test_the_custom_fields_are_in_the_bulk_and_rest_field_lists(conn):
    bulk = {i["internalName"]: i for i in conn.session.get(f"{conn.bulk}/contacts/fields",
                                                            params={"limit": 1000}).json()["items"]}
    for internal, name in (("C_Lead_Type1", "Lead Type"), ("C_Product_Interest1", "Product Interest")):
        assert bulk[internal]["name"] == name and bulk[internal]["dataType"] == "string"
        assert bulk[internal]["statement"] == "{{Contact.Field(%s)}}" % internal  # noqa: UP031 - EML's braces
    rest = {f["internalName"]: f for f in conn.session.get(f"{conn.rest()}/assets/contact/fields",
                                                           params={"depth": "complete"}).json()["elements"]}
    assert rest["C_Lead_Type1"]["isStandard"] == "false" and rest["C_Product_Interest1"]["dataType"] == "text"


def test_a_bulk_export_reads_lead_type_products_and_iso_countries(eloqua, bulk, field):
    fields = {"Id": "{{Contact.Id}}", "Country": field("C_Country"), "State": field("C_State_Prov"),
              "Size": field("C_Company_Size1"), "LeadType": field("C_Lead_Type1"),
              "Products": field("C_Product_Interest1")}
    rows = bulk.all_rows(bulk.export(fields))
    assert len(rows) == len(eloqua.state.contacts)
    assert {r["Country"] for r in rows} == {"US", "CA", "GB", "DE", "FR"}
    assert all(len(r["State"]) == 2 for r in rows if r["Country"] in ("US", "CA"))
    assert {r["LeadType"] for r in rows} == {"SMB", "Mid-Market", "Enterprise"}
    assert all(r["LeadType"] == "Enterprise" for r in rows if r["Size"] in ("1000-4999", "5000+"))
    assert all(r["Products"] and set(r["Products"].split(";")) <= PRODUCTS for r in rows)
    enterprise = bulk.all_rows(bulk.export({"Id": "{{Contact.Id}}"}, f"'{field('C_Lead_Type1')}' = 'Enterprise'"))
    assert {r["Id"] for r in enterprise} == {r["Id"] for r in rows if r["LeadType"] == "Enterprise"}


def test_a_state_saved_before_the_fields_existed_gains_them_on_restore(tmp_path):
    with EloquaSandbox(seed_contacts=20, data_dir=tmp_path):
        pass
    state = json.loads((tmp_path / "state.json").read_text())
    state["contact_fields"] = [f for f in state["contact_fields"]
                               if f["internal_name"] not in ("C_Lead_Type1", "C_Product_Interest1")]
    (tmp_path / "state.json").write_text(json.dumps(state))
    contacts = pq.read_table(tmp_path / "contacts.parquet")
    pq.write_table(contacts.drop(["C_Lead_Type1", "C_Product_Interest1"]), tmp_path / "contacts.parquet")

    with EloquaSandbox(data_dir=tmp_path) as restored:
        assert restored.restored and len(restored.state.contacts) == 20
        assert restored.state.contacts.field("C_Lead_Type1") is not None
        assert restored.state.contacts.table.column("C_Lead_Type1").null_count == 20  # nothing invented
