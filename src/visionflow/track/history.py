"""What a tracker remembers of its targets' earlier frames, for DeepStream's past-frame and
terminated-track metadata (``NVDS_TRACKER_PAST_FRAME_META``, ``NVDS_TRACKER_TERMINATED_LIST_META``).

* *Past frames*: the frames a target was tracked on while on probation (not reported). When it
  is confirmed, they are handed out once, so a downstream user (e.g. a line counter) can see
  where the object was before it got its id.
* *Terminated tracks*: with ``outputTerminatedTracks``, every frame of every target; when a
  confirmed target is terminated its whole history is handed out once.

A frame record is JSON-ready: ``frame_num``, ``bbox`` (``left``, ``top``, ``width``,
``height`` of the tracker's box), ``confidence`` (the tracker confidence), ``age`` and
``state`` (``TENTATIVE``, ``ACTIVE`` or ``INACTIVE``, DeepStream's names; INACTIVE is shadow
tracking).
"""

from __future__ import annotations

from typing import Any

import numpy as np

STATE_NAMES = ("TENTATIVE", "ACTIVE", "INACTIVE")
"""DeepStream's ``TRACKER_STATE`` names of the target states 0, 1, 2."""


class TrackHistory:
    """Frame records per target id."""

    def __init__(self) -> None:
        self.frames: dict[int, list[dict[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self.frames)

    def record(
        self,
        frame_num: int,
        ids: np.ndarray,
        boxes: np.ndarray,
        confidence: np.ndarray,
        age: np.ndarray,
        state: np.ndarray,
    ) -> None:
        """Add this frame's record of each target (rows of the arrays)."""
        b = np.asarray(boxes, np.float64).round(2)
        for i, box, c, a, s in zip(
            ids.tolist(), b.tolist(), confidence.tolist(), age.tolist(), state.tolist(),
            strict=True,
        ):  # fmt: skip
            self.frames.setdefault(i, []).append(
                {
                    "frame_num": frame_num,
                    "bbox": {
                        "left": box[0],
                        "top": box[1],
                        "width": round(box[2] - box[0], 2),
                        "height": round(box[3] - box[1], 2),
                    },
                    "confidence": round(float(c), 4),
                    "age": int(a),
                    "state": STATE_NAMES[int(s)],
                }
            )

    def release(
        self,
        ids: np.ndarray,
        new_ids: np.ndarray,
        class_id: np.ndarray,
        labels: list[str],
        *,
        keep: bool = False,
    ) -> list[dict[str, Any]]:
        """Hand out the records of targets ``ids`` under ``new_ids`` (a target may have taken
        another's id when it was confirmed), and forget them unless ``keep`` (then they stay,
        under the new ids); targets with none are left out."""
        out = []
        for old, new, c, label in zip(
            ids.tolist(), new_ids.tolist(), class_id.tolist(), labels, strict=True
        ):
            frames = self.frames.pop(old, None)
            if frames:
                out.append(
                    {"tracker_id": new, "class_id": c, "label": label, "frames": list(frames)}
                )
                if keep:
                    self.frames[new] = frames
        return out

    def drop(self, ids: np.ndarray) -> None:
        """Forget targets ``ids``."""
        for i in ids.tolist():
            self.frames.pop(i, None)
