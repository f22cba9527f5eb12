"""Email bodies are capped (issue 24): a lead field of 5,000,000 characters reaches the partner cut to
lifecycle.yaml `emails.max_field_chars` with an ellipsis, not as a 27 MB email; a body longer than
`emails.max_body_chars` loses its middle, with a note, and keeps its links. Sent for real through the SMTP server on loopback."""

import pandas as pd

from leadsync.lifecycle.delivery import deliver


def now():
    return pd.Timestamp.now(tz="UTC").to_pydatetime()


def test_a_five_million_character_field_reaches_the_partner_cut_to_the_field_limit(make_world):
    w = make_world()
    huge = "A" * 5_000_000
    w.add_leads([{"first_name": "Ada", "company": huge, "country": "US"}])
    report = deliver(w.ctx, now())
    assert report.sent == 1, report.problems
    (mail,) = w.inbox.messages
    size = len(mail.message.as_bytes())
    assert size < 100_000, f"the email is {size:,} bytes"
    assert "A" * 1999 + "…" in mail.text and "A" * 2000 not in mail.text  # the default cap: 2,000 characters
    assert "A" * 1999 + "…" in mail.html
    assert len(mail.message["Subject"]) <= 200 and mail.message["Subject"].endswith("…")
    assert "/lead/accept?t=" in mail.text  # the links after the long field are all there


def test_the_field_limit_is_configurable(make_world):
    w = make_world(emails={"max_field_chars": 300})
    w.add_leads([{"first_name": "Ada", "company": "Engines Ltd " + "x" * 900, "country": "US"}])
    assert deliver(w.ctx, now()).sent == 1
    (mail,) = w.inbox.messages
    assert "Engines Ltd " + "x" * 287 + "…" in mail.text and "x" * 288 not in mail.text  # 300 characters


def test_a_long_body_loses_its_middle_with_a_note_and_keeps_its_links(make_world):
    w = make_world(emails={"max_field_chars": 5000, "max_body_chars": 2000})
    w.add_leads([{"first_name": "Ada", "company": "Engines", "country": "US", "industry": "y" * 5000}])
    assert deliver(w.ctx, now()).sent == 1
    (mail,) = w.inbox.messages
    note = "This email was cut at 2,000 characters; the lead's page shows the rest."
    assert note in mail.text and note.replace("'", "&#39;") in mail.html
    text, html = mail.text.replace("\r\n", "\n"), mail.html.replace("\r\n", "\n")  # as rendered, before SMTP
    assert len(text) < 2000 + len(note) + 20 and len(html) < 2000 + len(note) + 60
    assert mail.text.startswith("Hello Northwind Networks,") and "Lead reference: " in mail.text
    assert mail.link("accept") and mail.link("reject")  # the end, with the links, stays
    cut = mail.html.index("…<p><em>")
    assert mail.html[cut - 1] == ">" and mail.html[mail.html.index("</em></p>") + 9] == "<"  # cut between tags
