"""Reading a YAML file strictly: UTF-8 only, and no key given twice in one mapping.

PyYAML decodes a byte the encoding cannot read with a raw UnicodeDecodeError, and lets a key given twice
(`default_partner:` twice, `type:` twice) pass silently, the last value winning. Both are mistakes the user
must fix, so both become a ConfigError naming the file, the line and the fix, like a syntax error.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml

# libyaml's parser where PyYAML was built with it (the wheels are): every asset of a run reads the mappings,
# and the pure-Python scanner took seconds a run.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):
    """SafeLoader that refuses a mapping key given twice (merge keys `<<` excepted)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class says so
                break
            if first is not None:
                raise DuplicateKey(key, first.start_mark, key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping)


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, first: yaml.Mark, again: yaml.Mark):
        super().__init__(f"key {key!r} given twice")
        self.key, self.first, self.again = key, first, again


def read_yaml(path: Path | str) -> object:
    """The parsed YAML of `path`; ConfigError for a missing file, a byte that is not UTF-8, a
    syntax error or a duplicated key, each line starting `line N, column M:` where the place is known."""
    from leadsync.config.loader import ConfigError as error  # the loader imports this module

    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(path, ["file not found; create it or fix the path"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(path, [(f"line {line}, column {column}: byte 0x{raw[exc.start]:02x} is not UTF-8 (the file "
                           "was saved in another encoding, e.g. Latin-1 / Windows-1252); save it as UTF-8 "
                           "(in most editors: Save As, encoding UTF-8) or retype the character")]) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except DuplicateKey as exc:
        raise error(path, [(f"line {exc.again.line + 1}, column {exc.again.column + 1}: key '{exc.key}' is given "
                           f"twice in the same mapping (first on line {exc.first.line + 1}), so one value would be "
                           "silently ignored; keep one of them")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise error(path, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax"]) from None


def lenient_yaml(text: str) -> object:
    """`text` parsed as plain YAML (no duplicate-key check), raising yaml.YAMLError as PyYAML does. Building the
    code location reads each source file about five times (sources, schedules, freshness, backfills, contacts)
    and tests build it hundreds of times: a text parsed once is handed out again, as a copy the caller may change."""
    return copy.deepcopy(_parsed(text))


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> object:
    # keyed on the text itself, not the file's mtime: a file rewritten within one timestamp tick is read afresh
    return yaml.load(text, Loader=_SafeLoader)
