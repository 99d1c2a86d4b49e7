"""The visionflow exception tree.

Every error visionflow raises derives from :class:`VisionflowError`. Where a builtin exception
describes the same failure, the visionflow class also inherits it, so ``except FileNotFoundError``
keeps working for callers who do not know visionflow's classes. Errors raised by ONNX Runtime,
PyTorch or FFmpeg are translated into these at the boundary of the module that calls them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class VisionflowError(Exception):
    """Base class of every error visionflow raises."""


class ConfigError(VisionflowError, ValueError):
    """A configuration file or value is invalid.

    ``str(err)`` is the full, precise message; the structured fields locate the problem so that
    tools (``visionflow validate --json``) can report it without parsing text.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        group: str | None = None,
        key: str | None = None,
        value: str | None = None,
        allowed: str | None = None,
    ) -> None:
        self.reason = message
        self.file = file
        self.line = line
        self.column = column
        self.group = group
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            if self.line is not None and self.column is not None:
                where += f":{self.column}"
            where += ": "
        subject = ""
        if self.key is not None:
            subject = f"[{self.group}] " if self.group else ""
            subject += self.key if self.value is None else f"{self.key} = {self.value}"
            subject += ": "
        text = f"{where}{subject}{self.reason}"
        if self.allowed is not None:
            text += f"; expected {self.allowed}"
        return text


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"did you mean 'batch-size'?"`` for the known name nearest to a misspelt one, else
    ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f"did you mean '{close[0]}'?" if close else ""


class SourceError(VisionflowError):
    """A source cannot be opened or read (missing file, unreachable URI, vanished stream)."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """A file source names a path that does not exist."""


class DecodeError(SourceError):
    """A stream was opened but its data could not be decoded (corrupt or truncated media)."""


class BackendError(VisionflowError, RuntimeError):
    """An inference backend failed to load a model or to run it."""


class ModelNotFoundError(BackendError, FileNotFoundError):
    """A model file does not exist."""


class MissingDependencyError(VisionflowError, ImportError):
    """An optional runtime is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed; "
            f"install it with: pip install 'visionflow[{extra}]'"
        )


class DeviceUnavailableError(BackendError):
    """A requested device or execution provider is not available and fallback was not allowed."""


class ParserError(VisionflowError):
    """A model's outputs do not fit the output parser chosen for it."""


class SinkError(VisionflowError, OSError):
    """A sink cannot write its output."""


class ConversionError(VisionflowError):
    """A model could not be imported, converted, quantised or verified."""


class ParityError(ConversionError):
    """A converted model's outputs differ from the source model's beyond the tolerance."""


class PipelineError(VisionflowError, RuntimeError):
    """An element failed while the pipeline was running.

    ``element`` names the element; ``__cause__`` holds the original exception.
    """

    def __init__(self, element: str, cause: BaseException) -> None:
        self.element = element
        super().__init__(f"element '{element}' failed: {type(cause).__name__}: {cause}")
