"""Reading the portal's pages in tests: their CSRF tokens. A module of its own (not the conftest) so that test
modules import it by its package path: `from conftest import …` finds whichever conftest pytest put on
sys.path first, and another folder's conftest has no such name."""

import re


def without_csrf(html: str) -> str:
    """The page with its CSRF tokens' values taken out: a random token may hold any short run of characters, so
    a test asserting that a value is not on the page would fail now and then (`97` in `…tju97ArI…`)."""
    return re.sub(r'name="csrf" value="[^"]+"', 'name="csrf"', html)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)
