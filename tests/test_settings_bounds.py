"""Every numeric setting of leadsync's configuration has an upper bound in its schema.

A number that passes `leadsync check` must not crash a run later (`token_ttl_hours: 99999999999` once passed
the schema, then partner emailing failed with OverflowError and was retried for six minutes). This walks every
pydantic model the YAML is read into (sources of every kind, partners and their CRMs, lifecycle, portal, backfill)
and every model their fields lead to, and lists each int/float field that has no `le`/`lt`.

A field typed as a number *among other things* (`value: str | float`, a rule's operand, a CRM field's value) is
data compared or written as given, not a setting: not walked.
"""

import importlib
import inspect
import pkgutil
import types
import typing

import annotated_types
from pydantic import BaseModel

import leadsync.config
from leadsync.config.api_sources import BackfillConfig
from leadsync.config.partners import PartnersConfig
from leadsync.config.schema import SourceConfig
from leadsync.lifecycle.settings import LifecycleSettings
from leadsync.partner_crm.kinds import KINDS
from leadsync.portal.config import PortalSettings

NUMBERS = (int, float)


def _subclasses(model: type[BaseModel]) -> list[type[BaseModel]]:
    return [model] + [s for sub in model.__subclasses__() for s in _subclasses(sub)]


def roots() -> list[type[BaseModel]]:
    """The models YAML is validated into, plus every model defined in leadsync's config modules (a new
    config model is walked without anyone adding it here)."""
    found = [*_subclasses(SourceConfig), PartnersConfig, LifecycleSettings, PortalSettings, BackfillConfig,
             *(kind.connection_model for kind in KINDS.values())]
    for info in pkgutil.iter_modules(leadsync.config.__path__, "leadsync.config."):
        module = importlib.import_module(info.name)
        found += [m for _, m in inspect.getmembers(module, inspect.isclass)
                  if issubclass(m, BaseModel) and m.__module__ == module.__name__]
    return found


def _models_in(tp) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in typing.get_args(tp) for m in _models_in(arg)]


def config_models() -> list[type[BaseModel]]:
    seen: dict[type[BaseModel], None] = {}
    todo = roots()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen[model] = None
        for field in model.model_fields.values():
            todo += _models_in(field.annotation)
    return list(seen)


def _bounded(metadata) -> bool:
    for item in metadata:
        if isinstance(item, annotated_types.Le | annotated_types.Lt):
            return True
        if isinstance(item, annotated_types.Interval) and (item.le is not None or item.lt is not None):
            return True
        if getattr(getattr(item, "func", None), "upper_bound", None) is not None:  # lifecycle/bounds.py `between`
            return True
        if getattr(item, "metadata", None) and _bounded(item.metadata):  # a FieldInfo inside Annotated[...]
            return True
    return False


def _unbounded_numbers(tp, metadata, where: str) -> list[str]:
    """Paths under a field of type `tp` (with constraints `metadata`) to numbers without an upper bound."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *more = typing.get_args(tp)
        return _unbounded_numbers(base, [*metadata, *more], where)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if any(_is_number(a) for a in options) and not all(_is_number(a) for a in options):
            return []  # data of several types (see the module's docstring)
        return [p for a in options for p in _unbounded_numbers(a, metadata, where)]
    if _is_number(tp):
        return [] if _bounded(metadata) else [where]
    origin = typing.get_origin(tp)
    if origin in (list, tuple, set, frozenset):
        return [p for a in typing.get_args(tp) if a is not Ellipsis for p in _unbounded_numbers(a, [], f"{where}[]")]
    if origin is dict:
        return _unbounded_numbers(typing.get_args(tp)[1], [], f"{where}{{}}")
    return []


def _is_number(tp) -> bool:
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp in NUMBERS  # bool is not int here: `tp in (int, float)` compares the types themselves


def unbounded_fields() -> list[str]:
    found = []
    for model in config_models():
        for name, field in model.model_fields.items():
            found += _unbounded_numbers(field.annotation, field.metadata, f"{model.__module__}.{model.__name__}.{name}")
    return sorted(set(found))


def test_the_walk_reaches_every_configuration_file_and_its_nested_settings():
    names = {m.__name__ for m in config_models()}
    assert {"SftpSource", "SalesforceSource", "MarketoSource", "EloquaSource", "PartnersConfig", "Partner",
            "OfferSettings", "ConflictPolicy", "LifecycleSettings", "SmtpSettings", "WebSettings",
            "PortalSettings", "BackfillConfig", "SalesforceConnection"} <= names
    # the walk itself finds what it must: an unbounded number, in a list too, but not a bounded one or data
    class Probe(BaseModel):
        bounded: int = 0
        free: float = 0
        many: list[int] = []
        value: str | float = 0

    Probe.model_fields["bounded"].metadata.append(annotated_types.Le(9))
    found = [p for p in (_unbounded_numbers(f.annotation, f.metadata, n) for n, f in Probe.model_fields.items())
             for p in p]
    assert found == ["free", "many[]"]


def test_every_numeric_setting_has_an_upper_bound():
    missing = unbounded_fields()
    assert not missing, ("numeric settings without an upper bound (add le=/lt= to the Field, a sane maximum that "
                         "cannot overflow a date or a timer):\n  " + "\n  ".join(missing))
