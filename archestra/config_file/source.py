"""A YAML file read with the line of every value, so that every error names the file, the line and the field.

``${NAME}`` in a string is replaced by the environment variable ``NAME`` (secrets are never written in the file);
an unset variable is an error at its line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

Path = tuple  # a field's place: keys and indexes from the document's root, ("profiles", 0, "slug")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Problem:
    path: Path
    message: str


class FileError(Exception):
    """The file is invalid: every problem, each with its file, line and field. Nothing was changed."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def field_name(path: Path) -> str:
    """``profiles[0].tools[1].call_policies[0].action``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the document)"


@dataclass
class Source:
    """One file's data and the line of each of its values."""

    name: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: The values that are exactly one ``${NAME}`` reference (where a secret may come from).
    from_env: set[Path] = field(default_factory=set)
    #: False when read without an environment: ``${NAME}`` references stay as written (nothing secret is read).
    expanded: bool = True

    def line(self, path: Path) -> int:
        """The line of ``path``, or of its nearest enclosing value that has one."""
        path = tuple(path)
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def where(self, path: Path) -> str:
        """``file:line: field`` of ``path``, as every message starts."""
        return f"{self.name}:{self.line(path)}: {field_name(path)}"

    def error(self, path: Path, message: str) -> None:
        self.problems.append(Problem(tuple(path), message))

    def messages(self) -> list[str]:
        return [f"{self.name}:{self.line(p.path)}: {field_name(p.path)}: {p.message}"
                for p in sorted(self.problems, key=lambda p: self.line(p.path))]

    def check(self) -> None:
        if self.problems:
            raise FileError(self.messages())


def read_yaml(name: str, text: str, env: Mapping[str, str] | None = None) -> Source:
    """Parse ``text`` (the file called ``name``); a syntax error raises :class:`FileError` with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise FileError([f"{name}:{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    source = Source(name, None, expanded=env is not None)
    if node is None:
        return source
    source.data = _build(node, (), source, env)
    return source


def _constructor() -> yaml.SafeLoader:
    return yaml.SafeLoader("")


def _build(node: yaml.Node, path: Path, source: Source, env: Mapping[str, str] | None) -> Any:
    source.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _constructor().construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                source.lines[path + (str(key),)] = key_node.start_mark.line + 1
                source.error(path + (str(key),), "a key must be a plain value")
                continue
            if key in out:
                source.lines[path + (key,)] = key_node.start_mark.line + 1
                source.error(path + (key,), "given twice")
                continue
            out[key] = _build(value_node, path + (key,), source, env)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (index,), source, env) for index, item in enumerate(node.value)]
    value = _constructor().construct_object(node, deep=True)
    if isinstance(value, str) and env is not None and "${" in value:
        def expand(match: re.Match) -> str:
            if match.group(1) not in env:
                source.error(path, f"the environment variable {match.group(1)} is not set")
                return ""
            return env[match.group(1)]
        if ENV_REFERENCE.fullmatch(value):
            source.from_env.add(path)
        value = ENV_REFERENCE.sub(expand, value)
    elif hasattr(value, "isoformat"):  # a bare date: keep the text, as JSON would
        value = value.isoformat()
    return value
