"""Constant-velocity Kalman filters over many boxes at once (NvMultiObjectTracker's
``StateEstimator``).

Every target of a stream is one row of the state arrays, so one frame's prediction and update
are a handful of batched NumPy operations whatever the number of targets.

* :class:`SimpleKalman` (``stateEstimatorType: 1``): state ``cx, cy, w, h, vx, vy`` — box centre
  and size, velocity of the centre — with the fixed noise variances ``processNoiseVar4Loc``,
  ``processNoiseVar4Size``, ``processNoiseVar4Vel`` and ``measurementNoiseVar4Detector``.
* :class:`RegularKalman` (``stateEstimatorType: 2``): state ``cx, cy, a, h`` and their
  velocities, ``a`` the aspect ratio ``w / h`` (``useAspectRatio: 1``) or the width; the noise
  variances are ``noiseWeightVar4Loc`` and ``noiseWeightVar4Vel`` times the squared box height,
  as in DeepSORT's filter (the aspect ratio's noises are DeepSORT's fixed ones).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from visionflow.track.config import TrackerConfig

_ASPECT_STD = (1e-2, 1e-5, 1e-1)
"""Aspect-ratio standard deviations of DeepSORT's filter: process (position, velocity) and
measurement."""


def xyxy_to_measurement(boxes: np.ndarray, aspect: bool) -> np.ndarray:
    """(N, 4) xyxy → (N, 4) ``cx, cy, a|w, h`` float64 (``a = w / h`` when ``aspect``)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    w = boxes[:, 2] - boxes[:, 0]
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    cx = boxes[:, 0] + 0.5 * w
    cy = boxes[:, 1] + 0.5 * h
    return np.stack([cx, cy, w / h if aspect else w, h], axis=1)


def measurement_to_xyxy(z: np.ndarray, aspect: bool) -> np.ndarray:
    """(N, ≥4) ``cx, cy, a|w, h, …`` → (N, 4) xyxy float32."""
    cx, cy, a, h = z[:, 0], z[:, 1], z[:, 2], np.maximum(z[:, 3], 0.0)
    w = np.maximum(a * h if aspect else a, 0.0)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)


class KalmanFilter(ABC):
    """A linear constant-velocity filter over N targets.

    Attributes:
        mean: (N, D) float64 states.
        covariance: (N, D, D) float64 covariances.
    """

    dim: int
    aspect: bool = False

    def __init__(self) -> None:
        self.mean = np.zeros((0, self.dim))
        self.covariance = np.zeros((0, self.dim, self.dim))
        self._motion = np.eye(self.dim)
        self._motion[:4, 4:] = self._velocity_map()
        self._observe = np.eye(4, self.dim)

    def __len__(self) -> int:
        return len(self.mean)

    @abstractmethod
    def _velocity_map(self) -> np.ndarray:
        """(4, D - 4): how the velocities move the measured quantities in one frame."""

    @abstractmethod
    def _initial_covariance(self, z: np.ndarray) -> np.ndarray:
        """(N, D) variances of new targets measured as ``z``."""

    @abstractmethod
    def _process_noise(self) -> np.ndarray:
        """(N, D) process noise variances of every target."""

    @abstractmethod
    def _measurement_noise(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), 4) measurement noise variances of targets ``rows``."""

    def boxes(self) -> np.ndarray:
        """(N, 4) float32 xyxy boxes of the current states."""
        return measurement_to_xyxy(self.mean, self.aspect)

    def add(self, boxes: np.ndarray) -> None:
        """Start targets at ``boxes`` ((M, 4) xyxy) with zero velocity."""
        z = xyxy_to_measurement(boxes, self.aspect)
        mean = np.zeros((len(z), self.dim))
        mean[:, :4] = z
        cov = np.zeros((len(z), self.dim, self.dim))
        idx = np.arange(self.dim)
        cov[:, idx, idx] = self._initial_covariance(z)
        self.mean = np.concatenate([self.mean, mean])
        self.covariance = np.concatenate([self.covariance, cov])

    def keep(self, mask: np.ndarray) -> None:
        """Forget the targets where ``mask`` is False."""
        self.mean = self.mean[mask]
        self.covariance = self.covariance[mask]

    def predict(self) -> None:
        """Advance every target by one frame."""
        if not len(self.mean):
            return
        q = self._process_noise()
        self.mean = self.mean @ self._motion.T
        self.covariance = self._motion @ self.covariance @ self._motion.T
        idx = np.arange(self.dim)
        self.covariance[:, idx, idx] += q

    def hold_size(self, rows: np.ndarray) -> None:
        """Stop the size of targets ``rows`` from changing on its own (chosen for targets that
        missed a detection: a size trend learnt from a few noisy boxes, carried through frames
        without detections, would shrink or swell the box until nothing matches it again)."""
        if self.dim == 8 and len(rows):
            self.mean[rows, 6:] = 0.0

    def update(self, rows: np.ndarray, boxes: np.ndarray, noise_scale: float = 1.0) -> None:
        """Correct targets ``rows`` with their measured ``boxes`` ((M, 4) xyxy), the
        measurement noise times ``noise_scale`` (a visual tracker's box, less sure than a
        detection's)."""
        if not len(rows):
            return
        z = xyxy_to_measurement(boxes, self.aspect)
        mean, cov = self.mean[rows], self.covariance[rows]
        h = self._observe
        projected = cov[:, :4, :4] + _diag(noise_scale * self._measurement_noise(rows))
        cross = cov[:, :, :4]  # P Hᵀ, (M, D, 4)
        gain = np.linalg.solve(projected, np.swapaxes(cross, 1, 2))  # (M, 4, D) = S⁻¹ H P
        gain = np.swapaxes(gain, 1, 2)  # (M, D, 4)
        innovation = z - mean[:, :4]
        self.mean[rows] = mean + np.einsum("mdk,mk->md", gain, innovation)
        self.covariance[rows] = cov - gain @ (h @ cov)


def _diag(values: np.ndarray) -> np.ndarray:
    out = np.zeros((*values.shape, values.shape[-1]))
    idx = np.arange(values.shape[-1])
    out[..., idx, idx] = values
    return out


class SimpleKalman(KalmanFilter):
    """``stateEstimatorType: 1``: ``cx, cy, w, h, vx, vy`` with fixed noise variances."""

    dim = 6

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        super().__init__()

    def _velocity_map(self) -> np.ndarray:
        return np.eye(4, 2)

    def _initial_covariance(self, z: np.ndarray) -> np.ndarray:
        c = self.config
        # Chosen (NVIDIA does not state it): position and size as certain as one detection,
        # velocity ten times as uncertain as one frame of process noise on the location.
        measured = c.measurement_noise_var_4_detector
        velocity = 10.0 * max(c.process_noise_var_4_loc, c.process_noise_var_4_vel)
        return np.tile([measured] * 4 + [velocity] * 2, (len(z), 1))

    def _process_noise(self) -> np.ndarray:
        c = self.config
        row = [c.process_noise_var_4_loc] * 2 + [c.process_noise_var_4_size] * 2
        row += [c.process_noise_var_4_vel] * 2
        return np.tile(row, (len(self.mean), 1))

    def _measurement_noise(self, rows: np.ndarray) -> np.ndarray:
        return np.full((len(rows), 4), self.config.measurement_noise_var_4_detector)


class RegularKalman(KalmanFilter):
    """``stateEstimatorType: 2``: ``cx, cy, a|w, h`` and their velocities, noises proportional
    to the squared box height."""

    dim = 8

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.aspect = config.use_aspect_ratio
        super().__init__()

    def _velocity_map(self) -> np.ndarray:
        return np.eye(4)

    def _scaled(self, h: np.ndarray, loc: float, vel: float) -> np.ndarray:
        h2 = (h * h)[:, None]
        pos = np.repeat(loc * h2, 4, axis=1)
        speed = np.repeat(vel * h2, 4, axis=1)
        if self.aspect:
            pos[:, 2], speed[:, 2] = _ASPECT_STD[0] ** 2, _ASPECT_STD[1] ** 2
        return np.concatenate([pos, speed], axis=1)

    def _initial_covariance(self, z: np.ndarray) -> np.ndarray:
        c = self.config
        # DeepSORT's start: twice the position and ten times the velocity standard deviation.
        return self._scaled(z[:, 3], 4 * c.noise_weight_var_4_loc, 100 * c.noise_weight_var_4_vel)

    def _process_noise(self) -> np.ndarray:
        c = self.config
        return self._scaled(self.mean[:, 3], c.noise_weight_var_4_loc, c.noise_weight_var_4_vel)

    def _measurement_noise(self, rows: np.ndarray) -> np.ndarray:
        h = self.mean[rows, 3]
        noise = np.repeat((self.config.noise_weight_var_4_loc * h * h)[:, None], 4, axis=1)
        if self.aspect:
            noise[:, 2] = _ASPECT_STD[2] ** 2
        return noise


class StaticBoxes(KalmanFilter):
    """``stateEstimatorType: 0`` (the IOU preset): a target stays where it was last measured."""

    dim = 4

    def _velocity_map(self) -> np.ndarray:
        return np.zeros((4, 0))

    def _initial_covariance(self, z: np.ndarray) -> np.ndarray:
        return np.zeros((len(z), 4))

    def _process_noise(self) -> np.ndarray:
        return np.zeros((len(self.mean), 4))

    def _measurement_noise(self, rows: np.ndarray) -> np.ndarray:
        return np.zeros((len(rows), 4))

    def predict(self) -> None:
        """Nothing moves."""

    def update(self, rows: np.ndarray, boxes: np.ndarray, noise_scale: float = 1.0) -> None:
        """The last measurement is the state."""
        if len(rows):
            self.mean[rows] = xyxy_to_measurement(boxes, False)


def state_estimator(config: TrackerConfig) -> KalmanFilter:
    """The filter ``config.state_estimator`` names."""
    if config.state_estimator == "simple":
        return SimpleKalman(config)
    if config.state_estimator == "regular":
        return RegularKalman(config)
    return StaticBoxes()
