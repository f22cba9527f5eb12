"""Shared contact lists (Application API 1.0 `assets/contact/list`), as an integration uses them to place
contacts into a nurture program: create, read (with the member count), and PUT with `membershipAdditions` /
`membershipDeletions` (contact ids as strings). Adding a member twice or removing a non-member changes
nothing, as in Eloqua; an id that is no contact is refused with a validation error naming it. The routes are
routes_lists.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class ContactList:
    id: int
    name: str
    members: set[int] = field(default_factory=set)

    def render(self) -> dict:
        return {"type": "ContactList", "id": str(self.id), "name": self.name, "count": str(len(self.members)),
                "depth": "complete", "dataLookupId": f"list-{self.id}", "scope": "global"}


class ContactLists:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lists: dict[int, ContactList] = {}

    def create(self, name: str, members: set[int] | None = None) -> ContactList:
        with self.lock:
            made = ContactList(max(self.lists, default=0) + 1, name, set(members or ()))
            self.lists[made.id] = made
            return made

    def members(self, list_id: int) -> set[int]:
        with self.lock:
            return set(self.lists[list_id].members)
