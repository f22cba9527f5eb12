"""How text from files and YAML enters the intake's SQL: as quoted literals and identifiers, never as SQL."""


def literal(value: str) -> str:
    """A SQL string literal: the only way text from files or YAML enters the plan's SQL."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
