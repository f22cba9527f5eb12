"""A partner user sees and changes only their own partner's leads: every route of the portal's route table
is tried by a Northwind user against a Blue Peak lead, without a session, and without (or with a wrong)
CSRF token. A route added to ROUTES without a case here fails test_every_route_has_a_case."""

import pytest

from leadsync.portal.app import ROUTES

# How each route is tried: (method, path, form). {lead} is a Blue Peak lead; forms name it where they take
# lead ids. Public routes are listed with None: they hold no partner data.
CASES = {
    "/": None,
    "/sign-in": None,
    "/sign-in/link": None,
    "/language": None,
    "/sign-out": ("POST", "/portal/sign-out", {}),
    "/leads": ("GET", "/portal/leads?q={lead}", None),
    "/leads/bulk": ("POST", "/portal/leads/bulk", {"action": "accept", "lead_id": "{lead}"}),
    "/leads/{lead_id}": ("GET", "/portal/leads/{lead}", None),
    "/pipeline": ("GET", "/portal/pipeline", None),
    "/pipeline.csv": ("GET", "/portal/pipeline.csv", None),
    "/ranking": ("GET", "/portal/ranking", None),
    "/settings": ("POST", "/portal/settings", {"closed_loop": "", "notification_users": "leads@northwind.example"}),
}


def test_every_route_has_a_case():
    assert sorted(r.path for r in ROUTES) == sorted(CASES)


# One served portal per store for the module (`shared_served`): every test here tries to read or change what
# it must not reach and asserts that nothing changed, so the leads and the Northwind session are made once.
@pytest.fixture(scope="module")
def routed(shared_served):
    """A routed lead of each partner (by country)."""
    north_lead, blue_lead = shared_served.add_leads([
        {"first_name": "Ada", "last_name": "Lovelace", "company": "Engines", "country": "US"},
        {"first_name": "Alan", "last_name": "Turing", "company": "Bletchley", "country": "GB"}])
    assert shared_served.assignment(blue_lead)["partner_id"] == "blue"
    return north_lead, blue_lead


@pytest.fixture(scope="module")
def north(module_sessions):
    return module_sessions()


@pytest.fixture
def two_partners(routed, north):
    """The two leads, and a Northwind user signed in: the module's session, signed in again when it is not
    live (the sign-out case ends it)."""
    if north.http.get("/portal/leads").status_code != 200:
        north.sign_in("leads@northwind.example")
    return (*routed, north)


def _fill(value, lead):
    return value.replace("{lead}", lead) if isinstance(value, str) else value


@pytest.mark.parametrize("route", [r for r in ROUTES if r.access != "public"], ids=lambda r: r.path)
def test_a_partner_user_cannot_read_or_act_on_another_partners_lead(route, two_partners, shared_served):
    served = shared_served
    _north_lead, blue_lead, north = two_partners
    method, path, form = CASES[route.path]
    path = _fill(path, blue_lead)
    before = served.events(blue_lead)
    if method == "GET":
        answer = north.http.get(path)
        text = answer.text  # (the search box may echo the lead id searched for: no row, link or name may)
        assert f"/portal/leads/{blue_lead}" not in text and f'name="lead_id" value="{blue_lead}"' not in text
        assert "Bletchley" not in text and "Turing" not in text
    else:
        answer = north.post(path, {k: _fill(v, blue_lead) for k, v in form.items()})
    assert answer.status_code in (200, 303, 404), answer.text
    assert served.assignment(blue_lead)["status"] == "routed"
    assert served.events(blue_lead).equals(before)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.access != "public"], ids=lambda r: r.path)
def test_every_member_route_needs_a_live_session(route, two_partners, shared_session):
    method, path, form = CASES[route.path]
    stranger = shared_session()
    path = _fill(path, two_partners[0])
    answer = stranger.http.get(path) if method == "GET" else stranger.post(path, form or {}, csrf=False)
    if method == "POST":  # no session, so no CSRF token: refused before anything else
        assert answer.status_code == 403
    else:
        assert answer.status_code == 303 and answer.headers["location"] == "/portal/sign-in"


@pytest.mark.parametrize("route", [r for r in ROUTES if "POST" in r.methods], ids=lambda r: r.path)
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_form_without_the_sessions_csrf_token_is_refused(route, token, two_partners, shared_served):
    north_lead, _, north = two_partners
    form = {"action": "accept", "lead_id": north_lead, "email": "ops@northwind.example", "language": "de"}
    if token:
        form["csrf"] = token
    answer = north.post("/portal" + route.path.rstrip("/"), form, csrf=False)
    assert answer.status_code == 403 and "The form has expired" in answer.text
    assert shared_served.assignment(north_lead)["status"] == "routed"
    assert north.http.get("/portal/leads").status_code == 200  # still signed in: sign-out was refused too


def test_the_lead_list_shows_only_the_partners_own_leads(two_partners, shared_session):
    north_lead, blue_lead, north = two_partners
    page = north.http.get("/portal/leads").text
    assert north_lead in page and blue_lead not in page
    blue = shared_session().sign_in("dana@bluepeak.example")
    page = blue.http.get("/portal/leads").text
    assert blue_lead in page and north_lead not in page
    detail = blue.http.get(f"/portal/leads/{north_lead}")
    assert detail.status_code == 404 and "Lovelace" not in detail.text
