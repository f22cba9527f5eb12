"""Read YAML into the schema models; turn every problem into one message naming file, key path and fix."""

from __future__ import annotations

import csv
import difflib
import os
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from leadsync.config.schema import SOURCE_MODELS, PartnersConfig, ProtectedAccount, SourceConfig
from leadsync.config.yaml_text import lenient_yaml, read_yaml

M = typing.TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration problem the user must fix. `problems` holds one line per problem."""

    def __init__(self, file: Path | str, problems: list[str]):
        self.file = str(file)
        self.problems = problems
        super().__init__(f"{file}: " + ("\n  ".join(problems) if len(problems) > 1 else problems[0]))


@dataclass(frozen=True)
class ProjectPaths:
    root: Path
    mappings: Path

    @property
    def sources_dir(self) -> Path:
        return self.mappings / "sources"

    @property
    def partners_file(self) -> Path:
        return self.mappings / "partners.yaml"

    def resolve(self, path: str) -> Path:
        """Paths in YAML are relative to the project root (the folder holding mappings/)."""
        p = Path(path)
        return p if p.is_absolute() else self.root / p


def project_paths(mappings_dir: str | Path | None = None) -> ProjectPaths:
    """The mappings folder: the argument, else $LEADSYNC_MAPPINGS_DIR, else <repo>/mappings."""
    chosen = mappings_dir or os.environ.get("LEADSYNC_MAPPINGS_DIR")
    mappings = Path(chosen).resolve() if chosen else Path(__file__).resolve().parents[2] / "mappings"
    return ProjectPaths(root=mappings.parent, mappings=mappings)


def source_files(paths: ProjectPaths) -> list[Path]:
    return sorted(p for p in paths.sources_dir.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def source_yaml_leniently(paths: ProjectPaths, source: str) -> dict:
    """A source file's top-level keys without validating them ({} when missing or not YAML): for what must
    work even when the file is broken (building the code location, schedules, emailing its contacts)."""
    for suffix in (".yaml", ".yml"):
        file = paths.sources_dir / f"{source}{suffix}"
        if file.exists():
            try:
                data = lenient_yaml(file.read_text(encoding="utf-8"))
            except (yaml.YAMLError, OSError, UnicodeDecodeError):
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def load_source(path: Path) -> SourceConfig:
    """A source file as the model of its `type` (SftpSource, SalesforceSource, …)."""
    def pick(data: dict) -> type[SourceConfig]:
        kind = data.get("type")
        if kind not in SOURCE_MODELS:
            guess = difflib.get_close_matches(str(kind), list(SOURCE_MODELS), n=1)
            hint = f"; did you mean '{guess[0]}'?" if guess else ""
            what = "missing" if kind is None else repr(kind)
            raise ConfigError(path, [f"type: {what}; one of {', '.join(SOURCE_MODELS)}{hint}"])
        return SOURCE_MODELS[kind]
    return _load(path, pick)


def load_partners(path: Path) -> PartnersConfig:
    cfg = _load(path, PartnersConfig)
    if not cfg.routing.protected_accounts_file:
        return cfg
    accounts = _protected_accounts_csv(Path(path).parent / cfg.routing.protected_accounts_file)
    data = cfg.model_dump()
    data["routing"]["protected_accounts"] = [*data["routing"]["protected_accounts"], *accounts]
    try:
        return PartnersConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [f"routing.protected_accounts_file: {e['msg'].removeprefix('Value error, ')}"
                                 for e in exc.errors()]) from None


def _protected_accounts_csv(path: Path) -> list[dict]:
    """Named accounts kept in a CSV (suppliers protect thousands): one account per row."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            columns = set(rows[0]) if rows else set()
    except FileNotFoundError:
        raise ConfigError(path, ["protected accounts file not found; fix routing.protected_accounts_file"]) from None
    allowed = set(ProtectedAccount.model_fields)
    if unknown := sorted(c for c in columns if c not in allowed):
        raise ConfigError(path, [f"unknown columns {unknown}; allowed: {sorted(allowed)}"])
    accounts, problems = [], []
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        values = {k: v.strip() for k, v in row.items() if v and v.strip()}
        values["open"] = values.get("open", "").lower() in ("true", "yes", "1", "y")
        try:
            accounts.append(ProtectedAccount.model_validate(values).model_dump())
        except ValidationError as exc:
            problems += [f"line {i}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
    if problems:
        raise ConfigError(path, problems)
    return accounts


def _load(path: Path, model: type[M] | typing.Callable[[dict], type[M]]) -> M:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, [f"expected a mapping of keys at the top level, found {type(data).__name__}"])
    if not isinstance(model, type):
        model = model(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(err, model, data) for err in exc.errors()]) from None


def _describe(err: dict, model: type[BaseModel], data: dict) -> str:
    loc = [p for p in err["loc"]]
    key_path = _key_path(loc, data)
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else ""
        return f"{key_path}: unknown key. Allowed keys here: {', '.join(allowed)}{hint}"
    if err["type"] == "missing":
        return f"{key_path}: required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] in ("literal_error", "enum"):
        return f"{key_path}: {msg} (got {err.get('input')!r})"
    return f"{key_path}: {msg}" if key_path else msg


def _key_path(loc: list, data: object) -> str:
    """Render a pydantic location as a YAML key path, naming list items by their 'name'/'field'/'id'."""
    parts: list[str] = []
    node = data
    for p in loc:
        if isinstance(p, int):
            label = ""
            if isinstance(node, list) and p < len(node) and isinstance(node[p], dict):
                item = node[p]
                ident = item.get("field") or item.get("name") or item.get("id") or item.get("column")
                label = f" ({ident})" if ident else ""
            parts[-1:] = [f"{parts[-1] if parts else ''}[{p}]{label}"]
            node = node[p] if isinstance(node, list) and p < len(node) else None
        else:
            parts.append(str(p))
            node = node.get(p) if isinstance(node, dict) else None
    return ".".join(parts)


def _allowed_keys(model: type[BaseModel], loc: list) -> list[str]:
    current: object = model
    for p in loc:
        if isinstance(p, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or p not in current.model_fields:
            return []
        current = _inner_model(current.model_fields[p].annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _inner_model(annotation: object) -> object:
    """Unwrap list[X], X | None and Annotated[X, ...] down to a model class if there is one."""
    for arg in typing.get_args(annotation) or ():
        found = _inner_model(arg)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation
