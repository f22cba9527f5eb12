"""YAML configuration: schema (pydantic models) and loading with errors that name file and key path."""

from leadsync.config.loader import ConfigError, load_partners, load_source, project_paths, source_files
from leadsync.config.schema import FieldMapping, FieldType, PartnersConfig, SourceConfig

__all__ = [
    "ConfigError",
    "FieldMapping",
    "FieldType",
    "PartnersConfig",
    "SourceConfig",
    "load_partners",
    "load_source",
    "project_paths",
    "source_files",
]
