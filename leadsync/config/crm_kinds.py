"""The CRM kinds a partner's `crm.type` can name, as the schema sees them: a name and the model its
`connection` block is validated with. The schema knows no implementation: each kind registers itself here
(leadsync/partner_crm/kinds.py registers Salesforce) and is found through the entry-point group below, so a
CRM shipped in another distribution is found the same way. Looking a kind up loads the group once; a module
that registers a kind when imported needs no entry point for its own process.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Protocol

from pydantic import BaseModel

ENTRY_POINT_GROUP = "leadsync.partner_crm_kinds"  # name = kind, value = the module that registers it


class CrmKindSchema(Protocol):
    name: str
    connection_model: type[BaseModel]


_registered: dict[str, CrmKindSchema] = {}
_discovered = False


def register_crm_kind(kind: CrmKindSchema) -> None:
    """Called by the module implementing the kind, when it is imported."""
    known = _registered.get(kind.name)
    if known is not None and known is not kind and known.connection_model is not kind.connection_model:
        raise ValueError(f"CRM kind '{kind.name}' is registered twice with different connection models: "
                         f"{known.connection_model.__qualname__} and {kind.connection_model.__qualname__}")
    _registered[kind.name] = kind


def crm_kinds() -> Mapping[str, CrmKindSchema]:
    """Every registered kind by name, after importing the modules the entry-point group names."""
    global _discovered
    if not _discovered:
        _discovered = True
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                point.load()  # importing the module registers its kinds
            except Exception as exc:
                raise ImportError(f"CRM kind '{point.name}': its module {point.value} (entry point group "
                                  f"{ENTRY_POINT_GROUP}, distribution {point.dist.name if point.dist else '?'}) "
                                  f"does not import: {exc}") from exc
    return MappingProxyType(_registered)
