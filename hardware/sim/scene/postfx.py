"""Camera look: exposure and white balance, vignetting, lens blur and sensor noise.

The noise field is drawn once per scene and sliced at a per-frame offset, so a frame costs a few
saturating adds rather than a fresh random image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD = 48  # noise field margin for per-frame offsets
VSCALE = 200.0  # shading map value meaning "unchanged"


@dataclass
class CameraLook:
    blur_sigma: float
    noise_pos: np.ndarray  # uint8 (H+PAD, W+PAD, 3)
    noise_neg: np.ndarray
    shading: np.ndarray  # uint8 (H, W, 3): vignetting x exposure x white balance, VSCALE = 1.0
    flicker: float  # amplitude of slow exposure drift
    flicker_period: float


def make_look(rng: np.random.Generator, width: int, height: int) -> CameraLook:
    exposure = rng.uniform(0.88, 1.1)
    wb = rng.uniform(0.97, 1.03, 3)
    gain = exposure * wb
    sigma = rng.uniform(1.2, 4.0)
    luma = rng.normal(0, sigma, (height + PAD, width + PAD, 1))
    chroma = rng.normal(0, sigma * 0.4, (height + PAD, width + PAD, 3))
    noise = np.round(luma + chroma).astype(np.int16)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
    vig = 1.0 - rng.uniform(0.04, 0.16) * r2 / 2
    shading = np.clip(vig[..., None] * gain[None, None, :] * VSCALE, 0, 255)
    return CameraLook(
        blur_sigma=float(rng.uniform(0.55, 1.05)),
        noise_pos=np.clip(noise, 0, 255).astype(np.uint8),
        noise_neg=np.clip(-noise, 0, 255).astype(np.uint8),
        shading=np.round(shading).astype(np.uint8),
        flicker=float(rng.uniform(0.0, 0.04)),
        flicker_period=float(rng.uniform(6, 20)),
    )


def apply_look(img: np.ndarray, look: CameraLook, t: float, offset: tuple[int, int]) -> np.ndarray:
    """The frame as the camera would deliver it. `offset` picks the noise slice (deterministic per frame)."""
    k = 1.0 + look.flicker * np.sin(2 * np.pi * t / look.flicker_period)
    out = cv2.multiply(img, look.shading, scale=k / VSCALE)
    out = cv2.GaussianBlur(out, (0, 0), look.blur_sigma)
    h, w = img.shape[:2]
    oy, ox = offset
    out = cv2.add(out, look.noise_pos[oy : oy + h, ox : ox + w])
    return cv2.subtract(out, look.noise_neg[oy : oy + h, ox : ox + w])
