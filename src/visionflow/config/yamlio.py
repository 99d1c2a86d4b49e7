"""YAML loading that remembers where every key is, for errors that name file and line.

:func:`compose` and :func:`construct` are the one way every reader (visionflow's YAML and the
DeepStream YAML readers) turns text into nodes and nodes into values: a syntax error, nesting
deeper than :data:`MAX_DEPTH`, a value its tag cannot build (``!!int abc``, a date that is no
date, an integer of more than 4,300 digits, a key that is a list) all become a
:class:`~visionflow.errors.ConfigError` naming file, line and column — never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from visionflow.config.text import read_config_text
from visionflow.errors import ConfigError, did_you_mean

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


#: Deepest nesting of lists and mappings accepted (DeepStream's files nest 3 or 4 levels).
MAX_DEPTH = 64

_TAG_FORMS = {
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date such as 2024-01-31",
    "tag:yaml.org,2002:binary": "base64 data",
}


_YAML_FORM = (
    "YAML: 'key: value' lines, nested keys indented alike, values with ': ', '#' or a "
    "leading special character quoted"
)


def compose(text: str, file: str) -> yaml.Node | None:
    """Parse YAML text into nodes (each knows its line and column); None for an empty document.

    Raises:
        ConfigError: invalid YAML, a character YAML does not allow, or nesting deeper than
            :data:`MAX_DEPTH`; the error names file, line and column.
    """
    try:
        _check_depth(text, file)
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem and exc.context_mark is not None:
            problem += f" ({exc.context} on line {exc.context_mark.line + 1})"
        raise ConfigError(
            f"invalid YAML: {problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            allowed=_YAML_FORM,
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ConfigError(
            f"invalid YAML: character {exc.character!r} is not allowed in YAML",
            file=file,
            line=line,
            column=column,
            allowed="printable characters, tabs and line breaks",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from None


def _check_depth(text: str, file: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before the (recursive) composer sees it."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise ConfigError(
                    f"lists and mappings nested more than {MAX_DEPTH} levels deep",
                    file=file,
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                    allowed=f"at most {MAX_DEPTH} levels",
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def construct_scalar(
    node: yaml.Node, file: str, key: str | None = None, group: str | None = None
) -> Any:
    """The Python value of one scalar node (as ``yaml.safe_load`` builds it).

    Raises:
        ConfigError: the value cannot be built (``!!int abc``, ``!!timestamp x``, an integer of
            more than 4,300 digits…), naming file, line, column, the text and what is allowed.
    """
    if node.tag == "tag:yaml.org,2002:null":  # "key:" with nothing after it
        return None
    try:
        return yaml.safe_load(yaml.serialize(node))
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        text = str(node.value) if isinstance(node, yaml.ScalarNode) else "…"
        form = _TAG_FORMS.get(node.tag)
        if "Exceeds the limit" in str(exc):
            reason, allowed = f"an integer of {len(text)} digits", "at most 4300 digits"
        elif form is not None:
            reason, allowed = f"not {form}", f"{form} (or no tag)"
        else:
            reason, allowed = f"tag {node.tag} cannot be read", "plain values without tags"
        raise ConfigError(
            reason,
            file=file,
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
            group=group,
            key=key,
            value=repr(text) if len(text) <= 60 else repr(text[:57] + "..."),
            allowed=allowed,
        ) from None


def construct(node: yaml.Node, file: str, key: str | None = None, group: str | None = None) -> Any:
    """The Python value of a node tree, each scalar built by :func:`construct_scalar`
    (``key`` and ``group`` name a scalar ``node`` in errors).

    Raises:
        ConfigError: as :func:`construct_scalar`, or a mapping key that is a list or mapping.
    """
    if isinstance(node, yaml.ScalarNode):
        return construct_scalar(node, file, key=key, group=group)
    return _construct(node, (), {}, file)


def _construct(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int], file: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    "a key must be a single value, not a list or mapping",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                )
            key = construct_scalar(key_node, file)
            lines[(*prefix, key)] = key_node.start_mark.line + 1
            name = ".".join(str(p) for p in (*prefix, key))
            if not isinstance(value_node, yaml.ScalarNode):
                out[key] = _construct(value_node, (*prefix, key), lines, file)
            else:
                out[key] = construct_scalar(value_node, file, key=name)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*prefix, i)] = item.start_mark.line + 1
            items.append(_construct(item, (*prefix, i), lines, file))
        return items
    return construct_scalar(node, file)


def load_yaml(path: str | Path) -> LocatedYaml:
    """Parse a YAML file, keeping line numbers. Every error is a ConfigError with the line."""
    path = Path(path)
    node = compose(read_config_text(path), str(path))
    lines: dict[KeyPath, int] = {}
    data = {} if node is None else _construct(node, (), lines, str(path))
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
            names = _field_names(model, loc[len(prefix) : -1])
            hint = did_you_mean(str(loc[-1]), names)
            message = f"unknown key; {hint + ' ' if hint else ''}known keys: {', '.join(names)}"
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
