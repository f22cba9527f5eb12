"""The Application (REST) API: contact search, paging and depth, single contacts, fields, campaigns."""


def test_contact_search_by_email_is_case_insensitive_and_takes_wildcards(eloqua, conn):
    email = eloqua.contact_by_id(7)["C_EmailAddress"]
    answer = conn.session.get(f"{conn.rest()}/data/contacts", params={"search": f"C_EmailAddress='{email.upper()}'"})
    body = answer.json()
    assert body["total"] == 1 and body["elements"][0]["id"] == "7"
    assert conn.session.get(f"{conn.rest()}/data/contacts",
                            params={"search": f"emailAddress={email}"}).json()["total"] == 1
    domain = email.split("@")[1]
    wild = conn.session.get(f"{conn.rest()}/data/contacts", params={"search": f"*@{domain}", "count": 1000}).json()
    assert wild["total"] >= 1 and all(e["emailAddress"].endswith("@" + domain) for e in wild["elements"])
    everyone = conn.session.get(f"{conn.rest()}/data/contacts", params={"search": "*"}).json()
    assert everyone["total"] == 300


def test_contact_paging_and_envelope(conn):
    pages = [conn.session.get(f"{conn.rest()}/data/contacts", params={"page": p, "count": 120}).json()
             for p in (1, 2, 3, 4)]
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    assert all(p["pageSize"] == 120 and p["total"] == 300 for p in pages)
    assert [len(p["elements"]) for p in pages] == [120, 120, 60, 0]
    ids = [e["id"] for p in pages for e in p["elements"]]
    assert ids == [str(i) for i in range(1, 301)]
    too_many = conn.session.get(f"{conn.rest()}/data/contacts", params={"count": 1001})
    assert too_many.status_code == 400 and too_many.json()[0]["parameter"] == "count"


def test_depth_decides_how_much_of_a_contact_comes_back(conn):
    def first(depth: str) -> dict:
        return conn.session.get(f"{conn.rest()}/data/contacts", params={"count": 1, "depth": depth}
                                ).json()["elements"][0]
    minimal, partial, complete = first("minimal"), first("partial"), first("complete")
    assert set(minimal) == {"type", "id", "createdAt", "depth", "name", "updatedAt", "emailAddress"}
    assert minimal["type"] == "Contact" and minimal["createdAt"].isdigit()  # Unix seconds, as a string
    assert {"firstName", "lastName", "accountName", "country", "isSubscribed"} <= set(partial)
    assert "fieldValues" not in partial
    values = {v["id"]: v.get("value") for v in complete["fieldValues"]}
    assert values["100021"]  # Industry
    assert "100201" in values and "value" not in next(v for v in complete["fieldValues"] if v["id"] == "100201")
    assert first("nonsense")["depth"] == "minimal"


def test_search_on_updated_at_finds_recently_changed_contacts(eloqua, conn):
    newest = max(eloqua.state.contacts.table.column("C_DateModified").to_pylist())
    since = newest.strftime("%Y-%m-%d %H:%M:%S")
    found = conn.session.get(f"{conn.rest()}/data/contacts", params={"search": f"updatedAt>='{since}'"}).json()
    assert found["total"] >= 1
    assert all(int(e["updatedAt"]) >= int(newest.timestamp()) - 1 for e in found["elements"])


def test_put_contact_replaces_the_whole_object(eloqua, conn):
    url = f"{conn.rest()}/data/contact/5"
    before = conn.session.get(url).json()
    assert before["title"]
    eloqua.clock.advance(60)
    sent = {"id": "5", "emailAddress": before["emailAddress"], "firstName": "Renamed",
            "fieldValues": [{"id": "100204", "value": "Working"}]}
    answer = conn.session.put(url, json=sent)
    assert answer.status_code == 200
    after = conn.session.get(url).json()
    assert after["firstName"] == "Renamed"
    assert "title" not in after  # properties left out are blanked, as Eloqua warns
    assert {"type": "FieldValue", "id": "100204", "value": "Working"} in after["fieldValues"]
    assert int(after["updatedAt"]) > int(before["updatedAt"])


def test_put_contact_validation_errors(conn):
    answer = conn.session.put(f"{conn.rest()}/data/contact/5", json={"firstName": "NoEmail"})
    assert answer.status_code == 400
    error = answer.json()[0]
    assert error["type"] == "ObjectValidationError" and error["property"] == "emailAddress"
    assert error["requirement"]["type"] == "EmailAddressRequirement"
    assert conn.session.get(f"{conn.rest()}/data/contact/999999").status_code == 404


def test_create_contact_and_duplicate_email_conflict(conn):
    created = conn.session.post(f"{conn.rest()}/data/contact",
                                json={"emailAddress": "new.lead@partner.example", "firstName": "New"})
    assert created.status_code == 201 and created.json()["id"] == "301"
    again = conn.session.post(f"{conn.rest()}/data/contact", json={"emailAddress": "NEW.lead@partner.example"})
    assert again.status_code == 409


def test_contact_field_lists(conn):
    rest = conn.session.get(f"{conn.rest()}/assets/contact/fields", params={"depth": "complete"}).json()
    by_name = {f["internalName"]: f for f in rest["elements"]}
    assert by_name["C_LeadSync_Rejection_Reason1"]["dataType"] == "largeText"
    assert by_name["C_Lead_Type1"]["isStandard"] == "false" and by_name["C_Product_Interest1"]["dataType"] == "text"
    assert by_name["C_DateModified"]["dataType"] == "date" and by_name["C_DateModified"]["isReadOnly"] == "true"
    bulk = conn.session.get(f"{conn.bulk}/contacts/fields", params={"limit": 1000}).json()
    item = next(i for i in bulk["items"] if i["internalName"] == "C_EmailAddress")
    assert item == {**item, "dataType": "emailAddress", "hasUniquenessConstraint": True,
                    "statement": "{{Contact.Field(C_EmailAddress)}}", "uri": "/contacts/fields/100001"}
    assert {i["internalName"] for i in bulk["items"]} >= {
        "C_FirstName", "C_LastName", "C_Company", "C_Country", "C_State_Prov", "C_Zip_Postal", "C_City",
        "C_BusPhone", "C_Title", "C_Industry1", "C_DateCreated", "C_DateModified", "ContactIDExt",
        "C_Lead_Type1", "C_Product_Interest1",
        "C_LeadSync_Distribution_Status1", "C_LeadSync_Partner1", "C_LeadSync_Rejection_Reason1",
        "C_LeadSync_Sales_Status1", "C_LeadSync_Rep_Name1", "C_LeadSync_Rep_Email1", "C_LeadSync_Lead_Key1"}
    assert bulk["totalResults"] == len(bulk["items"]) and bulk["hasMore"] is False


def test_added_contact_fields_show_up_everywhere(eloqua, conn, bulk, field):
    added = eloqua.add_contact_field("Partner Tier", data_type="text")
    assert added.internal_name == "C_Partner_Tier1"
    items = conn.session.get(f"{conn.bulk}/contacts/fields").json()["items"]
    assert any(i["statement"] == field("C_Partner_Tier1") for i in items)
    uri = bulk.export({"Email": field("C_EmailAddress"), "Tier": field("C_Partner_Tier1")})
    assert bulk.data(uri, limit=1).json()["items"][0]["Tier"] == ""


def test_campaigns_list_with_dates_and_custom_fields(conn):
    body = conn.session.get(f"{conn.rest('2.0')}/assets/campaigns", params={"depth": "complete", "count": 5}).json()
    assert body["total"] == 12 and len(body["elements"]) == 5
    campaign = body["elements"][0]
    assert campaign["type"] == "Campaign" and campaign["name"] == "RSA 2026 Booth"
    assert campaign["description"] and campaign["startAt"].isdigit() and campaign["endAt"].isdigit()
    assert int(campaign["startAt"]) < int(campaign["endAt"])
    assert {v["id"] for v in campaign["fieldValues"]} == {"1", "2", "3"}
    single = conn.session.get(f"{conn.rest('2.0')}/assets/campaign/{campaign['id']}").json()
    assert single["name"] == campaign["name"]
    searched = conn.session.get(f"{conn.rest('2.0')}/assets/campaigns", params={"search": "name='Q4*'"}).json()
    assert [c["name"] for c in searched["elements"]] == ["Q4 Webinar Series"]
    minimal = conn.session.get(f"{conn.rest('2.0')}/assets/campaigns", params={"count": 1}).json()["elements"][0]
    assert "fieldValues" not in minimal
    assert conn.session.get(f"{conn.rest('2.0')}/assets/campaign/1").status_code == 404


def test_custom_objects_are_listed_with_their_fields(conn):
    body = conn.session.get(f"{conn.rest('2.0')}/assets/customObjects", params={"depth": "complete"}).json()
    names = {o["name"]: o for o in body["elements"]}
    assert set(names) == {"LeadSync Opportunity", "LeadSync Partner Event"}
    opportunity = names["LeadSync Opportunity"]
    assert [f["name"] for f in opportunity["fields"]] == ["External Id", "Contact Email", "Name", "Stage", "Amount",
                                                          "Close Date", "Partner"]
    assert opportunity["uniqueCodeFieldId"] == "101"
    fields = conn.session.get(f"{conn.bulk}/customObjects/1/fields").json()["items"]
    external = next(f for f in fields if f["name"] == "External Id")
    assert external["statement"] == "{{CustomObject[1].Field[101]}}" and external["hasUniquenessConstraint"]
    assert conn.session.get(f"{conn.bulk}/customObjects/99/fields").status_code == 404


def test_contacts_ordered_by_last_update(conn):
    body = conn.session.get(f"{conn.rest()}/data/contacts", params={"orderBy": "updatedAt DESC", "count": 50}).json()
    stamps = [int(e["updatedAt"]) for e in body["elements"]]
    assert stamps == sorted(stamps, reverse=True) and body["total"] == 300
