"""A low-light camera: how a well-lit scene becomes a dark, noisy, compressed 8-bit clip.

Scene radiance (linear light) times a short exposure gives the expected photon count per pixel; shot
noise (its Gaussian approximation, variance = mean) and read noise are added; the camera's gamma curve
maps the signal to 8 bits; each frame then goes through JPEG as a camera's encoder would.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SRGB_TO_LINEAR = ((np.arange(256, dtype=np.float32) / 255.0) ** 2.2).astype(np.float32)
TONE_STEPS = 1 << 20  # resolution of the tone-curve table over linear signal [0, 1]


@dataclass
class Camera:
    """One clip's camera: the raw mean it aims for, photons per unit signal, read noise, gamma, JPEG quality."""

    target_mean: float
    photons: float
    read_noise: float
    gamma: float
    jpeg_quality: int

    @classmethod
    def random(cls, rng: np.random.Generator) -> Camera:
        """A camera set for a dark scene; the target raw means spread over 0.025-0.13 (ARID: about 0.07 on average)."""
        return cls(
            target_mean=float(np.exp(rng.uniform(np.log(0.025), np.log(0.13)))),
            photons=float(np.exp(rng.uniform(np.log(3000), np.log(12000)))),
            read_noise=float(rng.uniform(1.0, 4.0)),
            gamma=float(rng.uniform(1.9, 2.4)),
            jpeg_quality=int(rng.integers(45, 90)),
        )

    def exposure(self, radiance: np.ndarray, darkness: float) -> float:
        """The exposure that gives the target mean on `radiance` (noise-free), raised to `darkness` (0 = 1, bright)."""
        level = float(np.mean(np.clip(radiance, 0, 1) ** (1 / self.gamma)))
        return (self.target_mean / max(level, 1e-6)) ** (self.gamma * darkness)

    def tone_curve(self) -> np.ndarray:
        """The camera's gamma curve with 8-bit rounding, as a table over linear signal."""
        x = np.linspace(0.0, 1.0, TONE_STEPS, dtype=np.float32)
        return np.round(x ** np.float32(1 / self.gamma) * 255).astype(np.uint8)

    def capture(self, radiance: np.ndarray, darkness: float, rng: np.random.Generator) -> np.ndarray:
        """Linear radiance (T, H, W, 3) float32 -> dark uint8 frames (T, H, W, 3), JPEG-compressed."""
        exposure = self.exposure(radiance[0], darkness)
        photons = radiance * np.float32(exposure * self.photons)
        spread = np.sqrt(photons + np.float32(self.read_noise**2))
        noise = rng.standard_normal(photons.shape, dtype=np.float32)
        noise *= spread
        photons += noise
        photons *= np.float32((TONE_STEPS - 1) / self.photons)  # signal in [0, 1] -> tone-curve table index
        np.clip(photons, 0, TONE_STEPS - 1, out=photons)
        frames = self.tone_curve()[photons.astype(np.int32)]
        quality = [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]
        jpeg = [
            cv2.imdecode(cv2.imencode(".jpg", f[..., ::-1], quality)[1], cv2.IMREAD_COLOR) for f in frames
        ]
        return np.stack(jpeg)[..., ::-1].copy()
