"""The transport of each protocol (imported when a sink of that protocol is built)."""

from __future__ import annotations

from visionflow.brokers.config import BrokerConfig
from visionflow.brokers.transport import Transport


def transport_for(config: BrokerConfig) -> Transport:
    """The transport of a config's protocol."""
    if config.protocol == "mqtt":
        from visionflow.brokers.mqtt import MqttTransport

        return MqttTransport(config)
    if config.protocol == "amqp":
        from visionflow.brokers.amqp import AmqpTransport

        return AmqpTransport(config)
    if config.protocol == "redis":
        from visionflow.brokers.redis_streams import RedisTransport

        return RedisTransport(config)
    from visionflow.brokers.kafka import KafkaTransport

    return KafkaTransport(config)
