"""The transport contract: how a broker sink talks to one kind of broker.

A transport connects, sends a run of messages and returns only when the broker has acknowledged
every one of them (MQTT PUBACK, AMQP publisher confirm, Redis reply, Kafka delivery report), or
raises :class:`BrokerDownError`. The sink's sender thread is its only user.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import ModuleType
from typing import ClassVar

from visionflow.brokers.config import BrokerConfig
from visionflow.brokers.converter import Message
from visionflow.errors import SinkError


class BrokerDownError(SinkError):
    """The broker cannot be reached, or did not acknowledge a send in time."""


class Transport(ABC):
    """One connection to a broker."""

    protocol: ClassVar[str]
    package: ClassVar[str]  # the Python package it needs (pip name)

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config

    @abstractmethod
    def connect(self) -> None:
        """Open the connection; raise :class:`BrokerDownError` when the broker cannot be reached."""

    @abstractmethod
    def send(self, messages: Sequence[Message]) -> None:
        """Send in order; return once all are acknowledged, else raise :class:`BrokerDownError`
        (some may have arrived: delivery is at least once)."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection (never raises)."""

    @property
    def where(self) -> str:
        host, port = self.config.address
        return f"{self.protocol}://{host}:{port}/{self.config.topic}"


def need(module: str, package: str) -> ModuleType:
    """Import an optional client library, or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SinkError(
            f"the {package} package is needed for this broker sink: "
            "pip install 'visionflow[brokers]'"
        ) from None
