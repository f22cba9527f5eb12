"""What the console tests share by import (a module of its own: `conftest` names whichever conftest.py was
imported first, when several folders' tests run in one process)."""

import re

SUPPLIER = "ops@supplier.example"
ROUTED = {"email": "ann@acme.example", "last_name": "Lee", "company": "Acme", "country": "US", "state": "CA",
          "products": "Firewall", "lead_type": "SMB"}
UNASSIGNED = {"email": "tex@austin.example", "last_name": "Tex", "country": "US", "state": "TX", "products": "Endpoint", "lead_type": "SMB"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, f"no CSRF token on the page:\n{html[:500]}"
    return found.group(1)
