"""The supplier's own custom fields on Lead that routing reads: Lead_Type__c (a picklist following the
company's size) and Product_Interest__c (a multi-select picklist), described as an admin's custom fields and
seeded on every lead, through simple-salesforce as a real integration reads them."""

from leadsync.connectors.salesforce.sandbox.seed import LEAD_TYPE_FLOORS
from leadsync.connectors.salesforce.sandbox.standard_objects import PRODUCTS

LEAD_TYPES = ["SMB", "Mid-Market", "Enterprise"]


def test_describe_shows_lead_type_and_product_interest_as_custom_fields(seeded_sf):
    fields = {f["name"]: f for f in seeded_sf.Lead.describe()["fields"]}
    lead_type = fields["Lead_Type__c"]
    assert (lead_type["type"], lead_type["custom"], lead_type["label"]) == ("picklist", True, "Lead Type")
    assert [v["value"] for v in lead_type["picklistValues"]] == LEAD_TYPES
    products = fields["Product_Interest__c"]
    assert (products["type"], products["custom"]) == ("multipicklist", True)
    assert [v["value"] for v in products["picklistValues"]] == list(PRODUCTS)


def test_every_seeded_lead_has_a_lead_type_from_its_size_and_products(seeded_sf):
    leads = seeded_sf.query_all("SELECT Id, NumberOfEmployees, Lead_Type__c, Product_Interest__c FROM Lead")["records"]
    small, large = LEAD_TYPE_FLOORS
    for r in leads:
        size = r["NumberOfEmployees"]
        assert r["Lead_Type__c"] == ("SMB" if size < small else "Mid-Market" if size < large else "Enterprise"), r
        assert r["Product_Interest__c"] and set(r["Product_Interest__c"].split(";")) <= set(PRODUCTS), r
    assert {r["Lead_Type__c"] for r in leads} == set(LEAD_TYPES)
    enterprise = sum(r["Lead_Type__c"] == "Enterprise" for r in leads) / len(leads)
    assert 0.03 < enterprise < 0.2  # a realistic share of big accounts


def test_soql_filters_on_the_custom_fields(seeded_sf):
    enterprise = seeded_sf.query_all("SELECT Id FROM Lead WHERE Lead_Type__c = 'Enterprise' "
                                     "AND Product_Interest__c INCLUDES ('Firewall')")["records"]
    every = seeded_sf.query_all("SELECT Id, Lead_Type__c, Product_Interest__c FROM Lead")["records"]
    expected = {r["Id"] for r in every
                if r["Lead_Type__c"] == "Enterprise" and "Firewall" in r["Product_Interest__c"].split(";")}
    assert {r["Id"] for r in enterprise} == expected and expected
