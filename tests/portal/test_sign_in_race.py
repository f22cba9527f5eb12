"""Two browsers redeeming one sign-in link at the same moment (real HTTP, two threads, on each store) get
exactly one session: one is signed in, the other told the link was used."""

import re
import threading

from leadsync.portal.tables import portal_sessions
from tests.portal.pages import csrf_of

ROUNDS = 5  # links raced; each round's two POSTs leave the barrier together


def race(browser_session, link: str) -> list:
    """Both browsers open the link (each gets its own session cookie and CSRF token), then POST it at once."""
    clients = [browser_session() for _ in range(2)]
    forms = []
    for client in clients:
        page = client.http.get(link)
        forms.append({"t": re.search(r'name="t" value="([^"]+)"', page.text).group(1), "csrf": csrf_of(page.text)})
    barrier = threading.Barrier(2)
    answers: list = [None, None]

    def redeem(i: int) -> None:
        barrier.wait()
        answers[i] = clients[i].http.post("/portal/sign-in/link", data=forms[i])

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return answers


def test_two_concurrent_redemptions_of_one_link_give_exactly_one_session(served, browser_session):
    requester = browser_session()
    for round_ in range(ROUNDS):
        assert requester.request_link("leads@northwind.example").status_code == 200
        link = requester.latest_link("leads@northwind.example")
        answers = race(browser_session, link)
        signed_in = [a for a in answers if a.status_code == 303 and a.headers["location"] == "/portal/leads"]
        refused = [a for a in answers if a.status_code != 303]
        assert len(signed_in) == 1 and len(refused) == 1, [(a.status_code, a.text[:300]) for a in answers]
        assert refused[0].status_code == 410 and "used" in refused[0].text
        assert len(served.frame(portal_sessions)) == round_ + 1
