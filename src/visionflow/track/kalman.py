"""Constant-velocity Kalman filters over many boxes at once (NvMultiObjectTracker's
``StateEstimator``).

Every target of a stream is one row of the state arrays, so one frame's prediction and update
are a handful of batched NumPy operations whatever the number of targets. The motion model moves
each measured quantity by its own velocity (if it has one) and every noise is diagonal, so a
target's covariance never couples two quantities: it is kept as 2 x 2 blocks (position variance,
position–velocity covariance, velocity variance) per quantity, and prediction and update are
element-wise operations on (N, 4) arrays — the same values as the full D x D matrices give
(:attr:`KalmanFilter.covariance`), without a batched matrix product or solve per frame.

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
        mean: (N, D) float64 states: the 4 measured quantities, then the velocities of those
            :attr:`moving` names.
        var: (N, 4) float64 variances of the measured quantities.
        cross: (N, V) float64 covariances of each moving quantity with its velocity.
        var_velocity: (N, V) float64 variances of the velocities.
    """

    dim: int
    aspect: bool = False

    def __init__(self) -> None:
        self.moving = np.flatnonzero(self._velocity_map().any(axis=1))
        """Indices of the measured quantities that have a velocity (its state column is
        ``4 + k`` for the ``k``-th of them)."""
        v = len(self.moving)
        self.mean = np.zeros((0, self.dim))
        self.var = np.zeros((0, 4))
        self.cross = np.zeros((0, v))
        self.var_velocity = np.zeros((0, v))

    def __len__(self) -> int:
        return len(self.mean)

    @property
    def covariance(self) -> np.ndarray:
        """(N, D, D) float64 full covariances (built from the blocks; for inspection)."""
        n, v = len(self.mean), len(self.moving)
        cov = np.zeros((n, self.dim, self.dim))
        idx = np.arange(4)
        cov[:, idx, idx] = self.var
        vel = 4 + np.arange(v)
        cov[:, vel, vel] = self.var_velocity
        cov[:, self.moving, vel] = self.cross
        cov[:, vel, self.moving] = self.cross
        return cov

    @abstractmethod
    def _velocity_map(self) -> np.ndarray:
        """(4, D - 4): how the velocities move the measured quantities in one frame (each
        velocity moves one quantity by itself)."""

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
        initial = self._initial_covariance(z)
        self.mean = np.concatenate([self.mean, mean])
        self.var = np.concatenate([self.var, initial[:, :4]])
        self.cross = np.concatenate([self.cross, np.zeros((len(z), len(self.moving)))])
        self.var_velocity = np.concatenate([self.var_velocity, initial[:, 4:]])

    def keep(self, mask: np.ndarray) -> None:
        """Forget the targets where ``mask`` is False."""
        self.mean = self.mean[mask]
        self.var, self.cross = self.var[mask], self.cross[mask]
        self.var_velocity = self.var_velocity[mask]

    def predict(self) -> None:
        """Advance every target by one frame: ``x += v``; ``P = F P Fᵀ + Q`` block by block."""
        if not len(self.mean):
            return
        q = self._process_noise()
        m = self.moving
        if len(m):
            self.mean[:, m] += self.mean[:, 4:]
            a, b, c = self.var[:, m], self.cross, self.var_velocity
            self.var[:, m] = a + 2 * b + c
            self.cross = b + c
        self.var += q[:, :4]
        self.var_velocity = self.var_velocity + q[:, 4:]

    def hold_size(self, rows: np.ndarray) -> None:
        """Stop the size of targets ``rows`` from changing on its own (chosen for targets that
        missed a detection: a size trend learnt from a few noisy boxes, carried through frames
        without detections, would shrink or swell the box until nothing matches it again)."""
        if self.dim == 8 and len(rows):
            self.mean[rows, 6:] = 0.0

    def update(self, rows: np.ndarray, boxes: np.ndarray, noise_scale: float = 1.0) -> None:
        """Correct targets ``rows`` with their measured ``boxes`` ((M, 4) xyxy), the
        measurement noise times ``noise_scale`` (a visual tracker's box, less sure than a
        detection's). Per quantity: ``S = a + r``, gains ``a / S`` (position) and ``b / S``
        (velocity); ``a -= a² / S``, ``b -= a b / S``, ``c -= b² / S``."""
        if not len(rows):
            return
        z = xyxy_to_measurement(boxes, self.aspect)
        a = self.var[rows]
        s = a + noise_scale * self._measurement_noise(rows)
        innovation = z - self.mean[rows, :4]
        self.mean[rows, :4] += a / s * innovation
        self.var[rows] = a - a * a / s
        m = self.moving
        if len(m):
            b, sm = self.cross[rows], s[:, m]
            self.mean[rows, 4:] += b / sm * innovation[:, m]
            self.var_velocity[rows] -= b * b / sm
            self.cross[rows] = b - a[:, m] * b / sm


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
