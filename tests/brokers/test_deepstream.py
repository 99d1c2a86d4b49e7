"""deepstream-app ``[sinkN] type=6`` → broker sinks: proto-lib by library name, conn-str forms,
adapter config files, msgconv keys, [message-converter] with disable-msgconv; a deepstream-app
file run end to end against a real mosquitto."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from support.brokers import Mosquitto, MqttCollector
from visionflow.app import load_app
from visionflow.compat.deepstream.app import read_deepstream_app
from visionflow.errors import ConfigError

TEST4 = Path(__file__).parents[1] / "data/deepstream/NVIDIA-AI-IOT__deepstream_python_apps/apps"
TEST4 = TEST4 / "deepstream-test4"
LIB = "/opt/nvidia/deepstream/deepstream/lib/"


def _app(folder: Path, sink: str, extra: str = "") -> Path:
    for name in ("dstest4_msgconv_config.txt", "cfg_amqp.txt", "cfg_kafka.txt"):
        shutil.copy(TEST4 / name, folder / name)
    path = folder / "app.txt"
    path.write_text(
        "[source0]\nenable=1\ntype=3\nuri=synthetic://64x48?frames=30&fps=30\nnum-sources=1\n\n"
        "[sink0]\nenable=1\ntype=6\n" + sink + extra
    )
    return path


@pytest.mark.parametrize(
    ("sink", "expected"),
    [
        (
            f"msg-broker-proto-lib={LIB}libnvds_mqtt_proto.so\nmsg-broker-conn-str=h;1884\ntopic=t\n",
            {"protocol": "mqtt", "host": "h", "port": 1884, "topic": "t"},
        ),
        (  # Kafka: host;port;topic
            f"msg-broker-proto-lib={LIB}libnvds_kafka_proto.so\nmsg-broker-conn-str=k;9092;kt\n"
            "msg-broker-config=cfg_kafka.txt\n",
            {"protocol": "kafka", "host": "k", "port": 9092, "topic": "kt",
             "partition_key": "sensor.id"},
        ),
        (  # AMQP: host;port;username, the rest from cfg_amqp.txt
            f"msg-broker-proto-lib={LIB}libnvds_amqp_proto.so\nmsg-broker-conn-str=a;5673;bob\n"
            "msg-broker-config=cfg_amqp.txt\n",
            {"protocol": "amqp", "host": "a", "port": 5673, "topic": "topicname",
             "username": "bob", "password": "guest", "exchange": "amq.topic"},
        ),
        (  # AMQP without conn-str: the address from the adapter file
            "msg-broker-proto-lib=libnvds_amqp_proto.so\nmsg-broker-config=cfg_amqp.txt\n",
            {"protocol": "amqp", "host": "localhost", "port": 5672, "username": "guest"},
        ),
        (
            f"msg-broker-proto-lib={LIB}libnvds_redis_proto.so\nmsg-broker-conn-str=r;6380\n"
            "topic=stream\n",
            {"protocol": "redis", "host": "r", "port": 6380, "topic": "stream"},
        ),
    ],
)  # fmt: skip
def test_proto_lib_conn_str_and_adapter_config_map(
    tmp_path: Path, sink: str, expected: dict
) -> None:
    config, _report = read_deepstream_app(_app(tmp_path, sink))
    broker = config.sinks[0].broker
    assert broker is not None
    got = broker.model_dump()
    got["port"] = broker.address[1]
    assert {k: got[k] for k in expected} == expected


def test_msgconv_keys_set_the_payload_and_unused_keys_are_reported(tmp_path: Path) -> None:
    path = _app(
        tmp_path,
        f"msg-broker-proto-lib={LIB}libnvds_amqp_proto.so\nmsg-broker-config=cfg_amqp.txt\n"
        "msg-conv-config=dstest4_msgconv_config.txt\nmsg-conv-payload-type=1\n"
        "msg-conv-msg2p-new-api=1\nmsg-conv-frame-interval=10\nmsg-conv-comp-id=2\n"
        "debug-payload-dir=/tmp\nnew-api=1\n",
    )
    config, report = read_deepstream_app(path)
    messages = config.sinks[0].messages
    assert messages is not None
    assert (messages.payload, messages.msg2p_newapi, messages.frame_interval) == (
        "deepstream-minimal",
        True,
        10,
    )
    assert messages.component_id == 2
    assert messages.config == tmp_path / "dstest4_msgconv_config.txt"
    assert "sink0.msg-conv-payload-type" in report.honoured
    assert "sink0/sensor0.id" in report.honoured
    assert report.ignored["sink0/message-broker.amqp-framesize"] == "pika negotiates the frame size"
    assert "debug folder" in report.ignored["sink0.debug-payload-dir"]
    assert "reconnects" in report.ignored["sink0.new-api"]


def test_disable_msgconv_uses_the_message_converter_group(tmp_path: Path) -> None:
    path = _app(
        tmp_path,
        f"msg-broker-proto-lib={LIB}libnvds_mqtt_proto.so\ntopic=t\ndisable-msgconv=1\n"
        "msg-conv-payload-type=0\n",
        "\n[message-converter]\nenable=1\nmsg-conv-payload-type=1\n"
        "msg-conv-config=dstest4_msgconv_config.txt\n",
    )
    config, report = read_deepstream_app(path)
    messages = config.sinks[0].messages
    assert messages is not None
    assert messages.payload == "deepstream-minimal"
    assert "message-converter.msg-conv-payload-type" in report.honoured
    assert "[message-converter]" in report.ignored["sink0.msg-conv-payload-type"]


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        ("topic=t\n", r"app.txt:\d+: \[sink0\] msg-broker-proto-lib: missing"),
        (f"msg-broker-proto-lib={LIB}libnvds_azure_proto.so\ntopic=t\n",
         r"libnvds_azure_proto.so: visionflow has no broker sink for this adapter"),
        (f"msg-broker-proto-lib={LIB}libnvds_mqtt_proto.so\n", r"\[sink0\] topic: missing"),
        (f"msg-broker-proto-lib={LIB}libnvds_mqtt_proto.so\ntopic=t\nmsg-conv-payload-type=2\n",
         r"msg-conv-payload-type = 2: 2 \(protobuf\) is not available"),
        (f"msg-broker-proto-lib={LIB}libnvds_mqtt_proto.so\ntopic=t\nmsg-conv-payload-type=257\n",
         r"257 \(custom\) needs a custom msg2p library.*payload: custom"),
        (f"msg-broker-proto-lib={LIB}libnvds_mqtt_proto.so\ntopic=t\n"
         "msg-conv-msg2p-lib=/x/libmy_payload.so\n", r"a custom payload library cannot be loaded"),
        (f"msg-broker-proto-lib={LIB}libnvds_mqtt_proto.so\nmsg-broker-conn-str=h;port\ntopic=t\n",
         r"msg-broker-conn-str = h;port: port 'port' is not a number"),
        (f"msg-broker-proto-lib={LIB}libnvds_mqtt_proto.so\ntopic=t\ndisable-msgconv=1\n",
         r"disable-msgconv = 1: set, but there is no enabled \[message-converter\]"),
    ],
)  # fmt: skip
def test_what_cannot_run_is_refused_at_its_key(tmp_path: Path, sink: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_deepstream_app(_app(tmp_path, sink))


@pytest.mark.slow
def test_a_deepstream_app_file_publishes_minimal_payloads_to_mosquitto(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    path = _app(
        tmp_path,
        f"msg-broker-proto-lib={LIB}libnvds_mqtt_proto.so\n"
        f"msg-broker-conn-str=127.0.0.1;{mosquitto.port}\ntopic=ds/events\n"
        "msg-conv-config=dstest4_msgconv_config.txt\nmsg-conv-payload-type=1\n"
        "msg-conv-msg2p-new-api=1\nmsg-conv-frame-interval=10\n",
    )
    collector = MqttCollector(mosquitto.port, "ds/events")
    report = load_app(path).run()
    deadline = time.monotonic() + 10
    while len(collector.received()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    payloads = [json.loads(p) for p in collector.received()]
    collector.close()
    assert report.outputs["brokersink0"]["sent"] == 3
    assert [p["id"] for p in payloads] == ["0", "10", "20"]
    assert {p["sensorId"] for p in payloads} == {"CAMERA_ID"}
    assert all(p["version"] == "4.0" for p in payloads)


def test_mqtt_tls_keys_of_the_adapter_config(tmp_path: Path) -> None:
    (tmp_path / "cfg_mqtt_tls.txt").write_text(
        "[message-broker]\nusername=u\nenable-tls=1\ntls-cafile=certs/ca.pem\ntls-capath=/etc/ca\n"
    )
    path = _app(
        tmp_path,
        f"msg-broker-proto-lib={LIB}libnvds_mqtt_proto.so\nmsg-broker-conn-str=h;8883\ntopic=t\n"
        "msg-broker-config=cfg_mqtt_tls.txt\n",
    )
    config, report = read_deepstream_app(path)
    broker = config.sinks[0].broker
    assert broker is not None
    assert broker.tls
    assert broker.tls_ca_file == Path("certs/ca.pem")  # as DeepStream: from the working folder
    assert report.ignored["sink0/message-broker.tls-capath"] == (
        "a CA folder is not read; give tls-cafile"
    )
