"""A small named registry for plugins (backends, parsers, sources, sinks…).

Lookups that miss list what exists; registering a name twice says who registered it first.
Third-party packages add entries through the ``visionflow.<registry name>`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from visionflow.errors import VisionflowError

T = TypeVar("T")


class RegistryError(VisionflowError, KeyError):
    """A registry lookup missed, or a name was registered twice."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Maps names to objects of one kind.

    >>> parsers: Registry[Callable] = Registry("parser")
    >>> @parsers.register("yolo")
    ... def parse_yolo(outputs, ctx): ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._entry_points_loaded = False

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator registering an object under ``name`` (and any aliases)."""

        def decorate(obj: T) -> T:
            for key in (name, *aliases):
                self.add(key, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        origin = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
        if name in self._items and self._items[name] is not obj:
            raise RegistryError(
                f"{self.kind} '{name}' is already registered by {self._origins[name]}; "
                f"cannot register {origin} under the same name"
            )
        self._items[name] = obj
        self._origins[name] = origin

    def get(self, name: str) -> T:
        if name not in self._items:
            self._load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise RegistryError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=f"visionflow.{self.kind}"):
            if ep.name not in self._items:
                self.add(ep.name, ep.load())
