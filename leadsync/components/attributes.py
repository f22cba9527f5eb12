"""The `attributes:` of leadsync's components: today's YAML files, validated by leadsync's own loader.

One schema, not two. Dagster validates a component's attributes against the model `get_model_cls()` returns
before the component sees them; the models below let any mapping through there (their JSON schema lists
leadsync's keys, for `dg` and editors), and the component hands the mapping to leadsync's loader, so a
mistake gets the message `leadsync check` gives for the same key in a file under mappings/.

Templates: a value holding `{{ … }}` is rendered by Dagster (`{{ context.project_root }}`, `{{ env.X }}`)
before validation. A secret is never a value: the `*_env` keys name the environment variable that holds it,
read when a run needs it (Dagster's EnvVar semantics), and defs.yaml lists those variables under
`requirements.env` so `dg list env` and `dg check yaml --validate-requirements` know them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dagster.components.resolved.scopes import LoadContextScope
from pydantic import BaseModel, ConfigDict

from leadsync.config.loader import ConfigError
from leadsync.config.partners import PartnersConfig
from leadsync.config.schema import SOURCE_MODELS
from leadsync.lifecycle.settings import LifecycleSettings


class _AnyMapping(BaseModel):
    """Accepts any mapping: leadsync's loader validates it next.

    Its JSON schema names leadsync's top-level keys with their descriptions (for editors and `dg utils
    inspect-component`) and constrains nothing: `dg check defs` validates the YAML against it first, and any
    constraint there would answer in JSON Schema's words before leadsync's loader could give its own message.
    """

    model_config = ConfigDict(extra="allow")
    schema_of: ClassVar[tuple[type[BaseModel], ...]] = ()

    @classmethod
    def model_json_schema(cls, *args, **kwargs) -> dict[str, Any]:
        keys: dict[str, Any] = {}
        for model in cls.schema_of:
            for name, field in model.model_fields.items():
                keys.setdefault(field.alias or name, {"description": field.description or name.replace("_", " ")})
        return {"title": cls.__name__, "description": cls.__doc__, "type": "object", "properties": keys,
                "additionalProperties": True}

    def as_dict(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SourceAttributes(_AnyMapping):
    """A source file of mappings/sources/ (sftp, salesforce, marketo or eloqua, by its `type`)."""

    schema_of = tuple(SOURCE_MODELS.values())


class PartnersAttributes(_AnyMapping):
    """mappings/partners.yaml: the partners and the routing rules that give them leads."""

    schema_of = (PartnersConfig,)


class LifecycleAttributes(_AnyMapping):
    """mappings/lifecycle.yaml: delivery, partner emails and answers, closed loop, rewards."""

    schema_of = (LifecycleSettings,)


def rendered(attributes: _AnyMapping | None, context, shown: str) -> dict[str, Any]:
    """The attributes with their `{{ … }}` templates rendered. Only strings holding a template are rendered:
    Dagster's native rendering would turn a quoted "1" or "true" into a number or a boolean."""
    raw = attributes.as_dict() if attributes is not None else {}
    _refuse_templated_secrets(raw, shown)
    # `{{ context.project_root }}` and the like, as Dagster's own Resolvable components offer them
    scoped = context.with_rendering_scope({"context": LoadContextScope(context)})
    resolution = scoped.resolution_context.at_path("attributes")

    def render(value: Any, at) -> Any:
        if isinstance(value, Mapping):
            return {k: render(v, at.at_path(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [render(v, at.at_path(i)) for i, v in enumerate(value)]
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            return at.resolve_value(value)
        return value

    return render(raw, resolution)


def _refuse_templated_secrets(data: Any, shown: str, path: str = "") -> None:
    """`password_env: "{{ env.SFTP_PASSWORD }}"` would put the secret itself where leadsync expects the
    variable's name (and into every error message naming it): say so before anything is rendered."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if str(key).endswith("_env") and isinstance(value, str) and "{{" in value:
                raise ConfigError(shown, [(
                    f"{where}: give the name of the environment variable that holds the secret (e.g. "
                    f"{key}: MY_SOURCE_SECRET), not a template of its value; list the variable under "
                    "requirements.env in this defs.yaml")])
            _refuse_templated_secrets(value, shown, where)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _refuse_templated_secrets(value, shown, f"{path}[{i}]")


def secret_variables(data: Any) -> list[str]:
    """The environment variables the `*_env` keys name, in order (for requirements.env)."""
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            if str(key).endswith("_env") and isinstance(value, str) and value:
                found.append(value)
            else:
                found += secret_variables(value)
    elif isinstance(data, list):
        for value in data:
            found += secret_variables(value)
    return list(dict.fromkeys(found))
