"""DeepStream's full and minimal payloads (old API from events, new API from frame metadata)
with the msgconv config of deepstream-test4, and the converter's payload-type / frame-interval
choices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.analytics.support import frame

from visionflow.brokers import MessageConverter, MessagesConfig, emit_event
from visionflow.brokers.payload_deepstream import UNTRACKED_OBJECT_ID, Schema
from visionflow.core.meta import ClassifierLabel, Detections
from visionflow.errors import ConfigError

TEST4 = (
    Path(__file__).parents[1]
    / "data/deepstream/NVIDIA-AI-IOT__deepstream_python_apps/apps/deepstream-test4"
    / "dstest4_msgconv_config.txt"
)


def _frame_with_objects(frame_num: int = 30, source_id: int = 0):
    meta = frame(frame_num, [], source_id=source_id)
    meta.detections = Detections(
        np.array([[10.7, 20.2, 50.9, 80.5], [100, 100, 120.25, 140]], np.float32),
        confidence=np.array([0.9, 0.5], np.float32),
        class_id=[0, 1],
        tracker_id=[5, -1],
        labels=("Vehicle", "dog"),
    ).with_classifications(
        {
            0: [
                ClassifierLabel(
                    component_id=2,
                    attribute=0,
                    class_id=1,
                    label="blue",
                    confidence=0.8,
                    classifier_type="color",
                )
            ]
        }
    )
    return meta


def _convert(meta, **settings) -> list[dict]:
    converter = MessageConverter(MessagesConfig(**settings))
    return [json.loads(m.payload) for m in converter.convert(meta)]


def test_full_payload_of_an_event_has_deepstreams_fields_from_the_msgconv_file() -> None:
    meta = _frame_with_objects()
    emit_event(meta, "roi_entry", object_index=0, data={"roi": "gate"})
    [payload] = _convert(meta, payload="deepstream-full", config=TEST4)
    assert list(payload) == ["messageid", "mdsversion", "@timestamp", "place", "sensor",
                             "analyticsModule", "object", "event", "videoPath"]  # fmt: skip
    assert payload["mdsversion"] == "1.0"
    assert payload["sensor"] == {
        "id": "CAMERA_ID",
        "type": "Camera",
        "description": '"Entrance of Garage Right Lane"',  # GKeyFile keeps the quotes
        "location": {"lat": 45.293701447, "lon": -75.8303914499, "alt": 48.1557479338},
        "coordinate": {"x": 5.2, "y": 10.1, "z": 11.2},
    }
    # entry of a Vehicle: the place's sub-object is an aisle (id, name, level)
    assert payload["place"]["aisle"] == {
        "id": "walsh", "name": "lane1", "level": "P2", "coordinate": {"x": 1.0, "y": 2.0, "z": 3.0}
    }  # fmt: skip
    assert payload["analyticsModule"]["source"] == "OpenALR"
    assert payload["event"]["type"] == "entry"
    obj = payload["object"]
    assert obj["id"] == "5"
    assert obj["bbox"] == {"topleftx": 10, "toplefty": 20, "bottomrightx": 50, "bottomrighty": 80}
    assert obj["vehicle"]["license"] == ""
    assert obj["vehicle"]["confidence"] == 1.0


def test_full_payload_of_a_person_exit_uses_an_entrance_and_a_missing_sensor_is_null() -> None:
    meta = _frame_with_objects(source_id=1)
    meta.detections = meta.detections.replace(labels=("person", "dog"))
    emit_event(meta, "roi_exit", object_index=0)
    [payload] = _convert(meta, payload="deepstream-full", config=TEST4)
    assert payload["sensor"] is None  # no [sensor1]: DeepStream sets a null member
    assert payload["place"]["entrance"] == {
        "name": '"C-76-2"', "lane": '"LEV/EV/CP/ADA"', "level": "P2",
        "coordinate": {"x": 1.0, "y": 2.0, "z": 3.0},
    }  # fmt: skip
    assert payload["event"]["type"] == "exit"
    assert "person" in payload["object"]


def test_minimal_payload_gathers_a_frames_events_in_one_message() -> None:
    meta = _frame_with_objects()
    emit_event(meta, "a", object_index=0)
    emit_event(meta, "b", object_index=1)
    [payload] = _convert(meta, payload="deepstream-minimal", config=TEST4)
    assert payload["version"] == "4.0"
    assert payload["id"] == "30"
    assert payload["sensorId"] == "CAMERA_ID"
    assert payload["objects"] == [
        "5|10.7|20.2|50.9|80.5|Vehicle",
        f"{UNTRACKED_OBJECT_ID}|100|100|120.25|140|dog",
    ]


def test_old_api_sends_nothing_for_frames_without_events_unless_dummy_payload() -> None:
    meta = _frame_with_objects()
    assert _convert(meta, payload="deepstream-minimal") == []
    assert _convert(meta, payload="deepstream-full") == []
    [dummy] = _convert(meta, payload="deepstream-minimal", dummy_payload=True)
    assert dummy["objects"] == []
    assert dummy["sensorId"] == "0"


def test_new_api_minimal_lists_every_object_with_its_classifier_labels() -> None:
    [payload] = _convert(
        _frame_with_objects(), payload="deepstream-minimal", msg2p_newapi=True, config=TEST4
    )
    assert payload["sensorId"] == "CAMERA_ID"
    assert payload["objects"] == [
        "5|10.7|20.2|50.9|80.5|Vehicle|#|blue|0.9",
        f"{UNTRACKED_OBJECT_ID}|100|100|120.25|140|dog",
    ]


def test_new_api_full_sends_one_message_per_object_keyed_by_label() -> None:
    payloads = _convert(_frame_with_objects(), payload="deepstream-full", msg2p_newapi=True)
    assert len(payloads) == 2
    first = payloads[0]["object"]
    assert first["Vehicle"] == {"confidence": pytest.approx(0.9), "color": "blue"}
    assert first["bbox"] == {"topleftx": 10, "toplefty": 20, "bottomrightx": 50, "bottomrighty": 80}
    assert payloads[0]["event"]["type"] == ""
    assert payloads[0]["sensor"] is None
    assert payloads[0]["place"] is None


@pytest.mark.parametrize(
    ("interval", "sent"), [(30, [0, 30, 60]), (0, list(range(61))), (25, [0, 25, 50])]
)
def test_frame_interval_picks_the_frames_whose_number_is_a_multiple(
    interval: int, sent: list[int]
) -> None:
    converter = MessageConverter(
        MessagesConfig(payload="deepstream-minimal", msg2p_newapi=True, frame_interval=interval)
    )
    got = [n for n in range(61) if converter.convert(frame(n, [(10, 10)]))]
    assert got == sent


def test_visionflow_payload_is_the_event_itself_and_comp_id_filters() -> None:
    meta = _frame_with_objects()
    emit_event(meta, "a", component_id=3)
    emit_event(meta, "b", component_id=4)
    assert [p["type"] for p in _convert(meta)] == ["a", "b"]
    assert [p["type"] for p in _convert(meta, component_id=4)] == ["b"]


def test_custom_payload_function_and_its_errors() -> None:
    meta = _frame_with_objects()
    ref = "tests.brokers.test_payload_deepstream:_count_payload"
    assert _convert(meta, payload="custom", function=ref) == [{"objects": 2}]
    with pytest.raises(ConfigError, match=r"cannot load 'tests\.brokers\.nowhere:f'"):
        MessageConverter(MessagesConfig(payload="custom", function="tests.brokers.nowhere:f"))
    with pytest.raises(ValueError, match="payload custom needs a function"):
        MessagesConfig(payload="custom")


def _count_payload(meta, events) -> list[dict]:
    return [{"objects": len(meta.detections)}]


def test_a_bad_msgconv_file_is_refused_with_its_place(tmp_path: Path) -> None:
    bad = tmp_path / "msgconv.txt"
    bad.write_text("[sensor0]\nenable=1\nlocation=1;2\n")
    with pytest.raises(ConfigError, match=r"msgconv.txt:3.*location"):
        Schema.from_file(bad)


def test_visionflow_frame_payload_is_the_json_lines_record_with_its_events() -> None:
    converter = MessageConverter(MessagesConfig(payload="visionflow-frame", frame_interval=15))
    meta = _frame_with_objects(frame_num=30)
    emit_event(meta, "a")
    [message] = converter.convert(meta)
    record = json.loads(message.payload)
    assert record["schema"] == "visionflow.frame/1"
    assert record["frame_num"] == 30
    assert len(record["objects"]) == 2
    assert [e["type"] for e in record["events"]] == ["a"]
    assert converter.convert(_frame_with_objects(frame_num=31)) == []


def test_a_yaml_msgconv_config_is_read_as_deepstream_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "msgconv.yml"
    path.write_text(
        "sensor0:\n  enable: 1\n  id: CAM_Y\n  location: 1;2;3\nplace0:\n  enable: 0\n  id: P\n"
    )
    schema = Schema.from_file(path)
    assert schema.sensors[0]["id"] == "CAM_Y"
    assert schema.places == {}  # enable: 0
    meta = _frame_with_objects()
    emit_event(meta, "a", object_index=0)
    [payload] = [json.loads(m.payload) for m in MessageConverter(
        MessagesConfig(payload="deepstream-full", config=path)).convert(meta)]  # fmt: skip
    assert payload["sensor"]["location"] == {"lat": 1.0, "lon": 2.0, "alt": 3.0}
    assert payload["place"] is None
