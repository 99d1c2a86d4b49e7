from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.brokers import Mosquitto, RabbitMQ, Redis, require


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    require("mosquitto")
    server = Mosquitto(tmp_path / "mosquitto").start()
    yield server
    server.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    require("redis")
    server = Redis(tmp_path / "redis").start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    """One RabbitMQ for the session (it takes seconds to start); tests restart it as needed."""
    require("amqp")
    server = RabbitMQ(tmp_path_factory.mktemp("rabbitmq")).start()
    yield server
    server.stop()
