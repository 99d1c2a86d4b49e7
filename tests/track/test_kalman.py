"""The Kalman filters' block form gives what the textbook full-matrix filter gives."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.track import preset
from visionflow.track.kalman import state_estimator, xyxy_to_measurement


class FullKalman:
    """Textbook constant-velocity Kalman filter on full D x D matrices (the reference)."""

    def __init__(self, filt, boxes: np.ndarray) -> None:
        self.f = filt
        d = filt.dim
        self.motion = np.eye(d)
        for k, m in enumerate(filt.moving.tolist()):
            self.motion[m, 4 + k] = 1.0
        self.observe = np.eye(4, d)
        self.mean = filt.mean.copy()
        self.cov = filt.covariance.copy()

    def predict(self, q: np.ndarray) -> None:
        self.mean = self.mean @ self.motion.T
        self.cov = self.motion @ self.cov @ self.motion.T + np.stack([np.diag(r) for r in q])

    def update(self, rows: np.ndarray, boxes: np.ndarray, r: np.ndarray) -> None:
        z = xyxy_to_measurement(boxes, self.f.aspect)
        for k, row in enumerate(rows.tolist()):
            p, h = self.cov[row], self.observe
            s = h @ p @ h.T + np.diag(r[k])
            gain = p @ h.T @ np.linalg.inv(s)
            self.mean[row] = self.mean[row] + gain @ (z[k] - h @ self.mean[row])
            self.cov[row] = (np.eye(len(p)) - gain @ h) @ p


@pytest.mark.parametrize("algorithm", ["nvsort", "nvdcf"])
def test_block_form_matches_full_matrices(algorithm: str) -> None:
    rng = np.random.default_rng(7)
    filt = state_estimator(preset(algorithm))  # type: ignore[arg-type]
    corner = rng.uniform(0, 500, (12, 2))
    filt.add(np.concatenate([corner, corner + rng.uniform(20, 80, (12, 2))], axis=1))
    ref = FullKalman(filt, None)
    for step in range(40):
        q = filt._process_noise()
        filt.predict()
        ref.predict(q)
        rows = np.flatnonzero(rng.random(len(filt)) < 0.8)
        boxes = filt.boxes()[rows] + rng.normal(0, 2, (len(rows), 4)).astype(np.float32)
        scale = 4.0 if step % 3 == 0 else 1.0
        r = scale * filt._measurement_noise(rows)
        filt.update(rows, boxes, noise_scale=scale)
        ref.update(rows, boxes, r)
        np.testing.assert_allclose(filt.mean, ref.mean, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(filt.covariance, ref.cov, rtol=1e-9, atol=1e-9)
