"""YAML loading that remembers where every key is, for errors that name file and line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from visionflow.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)
KeyPath = tuple[str | int, ...]


@dataclass
class LocatedYaml:
    """A parsed YAML document plus the 1-based line of every mapping key and sequence item."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, key_path: Sequence[str | int]) -> int | None:
        """The line of the deepest known prefix of ``key_path``."""
        parts = tuple(key_path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return None


def _construct(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            lines[(*prefix, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*prefix, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*prefix, i)] = item.start_mark.line + 1
            items.append(_construct(item, (*prefix, i), lines))
        return items
    return yaml.safe_load(yaml.serialize(node))


def load_yaml(path: str | Path) -> LocatedYaml:
    """Parse a YAML file, keeping line numbers. Syntax errors become ConfigError with the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"invalid YAML: {exc.problem}", file=str(path), line=line) from None
    lines: dict[KeyPath, int] = {}
    data = {} if node is None else _construct(node, (), lines)
    return LocatedYaml(path, data, lines)


def validate(model: type[Model], doc: LocatedYaml, data: Any = None, prefix: KeyPath = ()) -> Model:
    """Validate ``data`` (default: the whole document) against a pydantic model.

    The first validation error becomes a ConfigError naming the file, line, key path, the
    offending value and what is allowed.
    """
    data = doc.data if data is None else data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = (*prefix, *err["loc"])
        key = ".".join(str(p) for p in loc) or None
        value = err.get("input")
        shown = None if isinstance(value, dict | list) or err["type"] == "missing" else repr(value)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            known = ", ".join(_field_names(model, loc[len(prefix) : -1]))
            message = f"unknown key; known keys: {known}"
            shown = None
        raise ConfigError(
            message[0].lower() + message[1:],
            file=str(doc.path),
            line=doc.line_of(loc),
            key=key,
            value=shown,
        ) from None


def _field_names(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names of the (nested) model at ``loc``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            break
        annotation = fields[part].annotation
        args = getattr(annotation, "__args__", ())
        candidates = [
            a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        for arg in args:
            candidates += [
                a
                for a in getattr(arg, "__args__", ())
                if isinstance(a, type) and issubclass(a, BaseModel)
            ]
        if not candidates:
            break
        current = candidates[0]
    return sorted(getattr(current, "model_fields", {}))
