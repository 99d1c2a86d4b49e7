"""Acting on results: events, DeepStream-compatible message payloads, and message broker sinks
(MQTT, AMQP, Redis Streams, Kafka) with at-least-once delivery through an on-disk spool.

::

    from visionflow.brokers import BrokerConfig, BrokerSink, MessagesConfig, emit_event

    sink = BrokerSink(
        BrokerConfig(protocol="mqtt", host="localhost", topic="events"),
        MessagesConfig(payload="deepstream-minimal", msg2p_newapi=True, frame_interval=30),
    )

The client libraries are optional (``pip install 'visionflow[brokers]'``) and imported only
when a sink of that protocol connects. See ``docs/events.md``.
"""

from visionflow.brokers.analytics import AnalyticsEvents
from visionflow.brokers.config import BrokerConfig, MessagesConfig, SpoolConfig
from visionflow.brokers.converter import Message, MessageConverter
from visionflow.brokers.events import EVENTS, SCHEMA, emit_event, frame_events
from visionflow.brokers.sink import BrokerSink
from visionflow.brokers.transport import BrokerDownError, Transport

__all__ = [
    "EVENTS",
    "SCHEMA",
    "AnalyticsEvents",
    "BrokerConfig",
    "BrokerDownError",
    "BrokerSink",
    "Message",
    "MessageConverter",
    "MessagesConfig",
    "SpoolConfig",
    "Transport",
    "emit_event",
    "frame_events",
]
