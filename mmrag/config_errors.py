"""Settings errors a person can act on: the dotted key, the bad value and where it came from.

pydantic's own report is a long traceback that names neither the environment variable nor the YAML
line; ``explain`` turns it into one line per bad value, e.g.
``retrieval.top_k = 'abc' (environment variable MMRAG_RETRIEVAL__TOP_K): Input should be a valid integer``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from mmrag.errors import ConfigError

ENV_PREFIX = "MMRAG_"
ENV_DELIMITER = "__"


def check_yaml_file(path: str | Path) -> None:
    """Refuse a YAML file that does not parse or whose top level is not a mapping of sections."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {e}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of settings (e.g. 'retrieval:'), not a {type(data).__name__}")


def _env_var(loc: Sequence[Any], environ: Mapping[str, str]) -> str | None:
    """The MMRAG_* variable that set ``loc`` (or the section holding it, as JSON); names are case-insensitive."""
    upper = {k.upper(): k for k in environ}
    for n in range(len(loc), 0, -1):
        name = (ENV_PREFIX + ENV_DELIMITER.join(str(p) for p in loc[:n])).upper()
        if name in upper:
            return upper[name]
    return None


def _in_overrides(loc: Sequence[Any], overrides: Mapping[str, Any]) -> bool:
    node: Any = overrides
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def yaml_line(path: str | Path, loc: Sequence[Any]) -> int | None:
    """1-based line of the value at ``loc`` in a YAML file (of its key when the value is absent), if found."""
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            return line
        for key, value in node.value:
            if key.value == str(part):
                line, node = value.start_mark.line + 1, value
                break
        else:
            return line
    return line


def source_of(loc: Sequence[Any], overrides: Mapping[str, Any], yaml_path: str | Path | None, environ: Mapping[str, str] | None = None) -> str:
    """Where a value came from, in the order the settings sources win: arguments, environment, YAML."""
    if _in_overrides(loc, overrides):
        return "given as an argument or command-line option"
    env = _env_var(loc, os.environ if environ is None else environ)
    if env:
        return f"environment variable {env}"
    if yaml_path:
        line = yaml_line(yaml_path, loc)
        return f"config file {yaml_path}" + (f", line {line}" if line else "")
    return "default"


def _shown(loc: Sequence[Any], value: Any) -> str:
    if any("key" in str(p).lower() for p in loc):  # never echo a credential
        return "'***'"
    return repr(value)


def explain_validation(errors: list[dict[str, Any]], overrides: Mapping[str, Any], yaml_path: str | Path | None) -> str:
    lines = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        key = ".".join(str(p) for p in loc) or "settings"
        src = source_of(loc, overrides, yaml_path)
        if err.get("type") == "extra_forbidden":
            lines.append(f"unknown setting {key} ({src})")
        else:
            lines.append(f"{key} = {_shown(loc, err.get('input'))} ({src}): {err.get('msg', 'invalid')}")
    return "invalid settings: " + "; ".join(lines) if len(lines) > 1 else "invalid setting " + lines[0]


_PARSE = re.compile(r'field "(?P<field>[^"]+)" from source "(?P<source>[^"]+)"')


def explain_settings_error(message: str) -> str:
    """pydantic-settings' SettingsError: a section given as an environment variable that is not JSON."""
    m = _PARSE.search(message)
    if not m:
        return f"invalid settings: {message}"
    field = m["field"]
    env = _env_var((field,), os.environ) if m["source"].startswith("Env") else None
    if env:
        return (f"invalid setting {field} = {os.environ[env]!r} (environment variable {env}): a whole section must be "
                f"JSON, e.g. {ENV_PREFIX}{field.upper()}='{{\"key\": value}}', or set one key with {ENV_PREFIX}{field.upper()}{ENV_DELIMITER}KEY")
    return f"invalid setting {field} (from {m['source']}): {message}"
