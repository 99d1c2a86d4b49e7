"""What a reader did with each key of a DeepStream file: honoured, ignored (and why), or wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ConfigReport:
    """The account of one file, as ``visionflow validate`` prints it.

    Every key of the file lands in ``honoured`` or ``ignored``: no key is silently dropped.
    Keys are written ``group.key`` (``property.network-mode``, ``source0.uri``).

    Attributes:
        file: the file read.
        kind: what the file is (``visionflow.compat.deepstream.detect.detect_kind``):
            ``nvinfer``, ``deepstream-app``, ``tracker``, ``nvdsanalytics``, ``msgconv``,
            ``preprocess``, ``visionflow-pipeline``, ``visionflow-infer``, …
        honoured: keys whose meaning visionflow reproduces.
        ignored: keys accepted but without effect here, each with the reason.
        warnings: deprecated aliases, unknown keys, missing optional files…
        errors: what makes the file invalid (empty when valid).
    """

    file: str
    kind: str
    honoured: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def honour(self, key: str) -> None:
        if key not in self.honoured:
            self.honoured.append(key)

    def ignore(self, key: str, reason: str) -> None:
        self.ignored.setdefault(key, reason)

    def merge(self, other: ConfigReport, prefix: str = "") -> None:
        """Add another file's account (e.g. a nested nvinfer file of a deepstream-app config)."""
        self.honoured += [f"{prefix}{k}" for k in other.honoured]
        self.ignored.update({f"{prefix}{k}": v for k, v in other.ignored.items()})
        self.warnings += other.warnings
        self.errors += other.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "valid": self.valid,
            "honoured": list(self.honoured),
            "ignored": [{"key": k, "reason": r} for k, r in self.ignored.items()],
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }

    def render(self) -> str:
        """A human summary."""
        status = "valid" if self.valid else "INVALID"
        lines = [f"{self.file}: {self.kind} config, {status}"]
        lines += [f"  error: {e}" for e in self.errors]
        lines.append(f"  honoured ({len(self.honoured)}): {', '.join(self.honoured) or '-'}")
        if self.ignored:
            lines.append(f"  accepted but ignored ({len(self.ignored)}):")
            lines += [f"    {k}: {r}" for k, r in self.ignored.items()]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)
