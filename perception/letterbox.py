"""Letterbox an image into the model's input and map boxes back to source pixels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # ultralytics' grey


@dataclass(frozen=True, slots=True)
class LetterboxInfo:
    """How a source image was placed in the model input: input = source * scale + pad."""

    scale: float
    pad_x: int
    pad_y: int
    source_width: int
    source_height: int


def letterbox(image: np.ndarray, size: tuple[int, int], stride: int | None = None) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize `image` (HxWx3) to fit `size` (height, width), keeping aspect, centred on grey.

    With `stride`, pad only up to the next multiple of it (a "rect" input: a 640x480 frame
    becomes 320x256 rather than 320x320, an elongated crop far less) for models with dynamic
    input shapes. Matches ultralytics' LetterBox(auto=stride is not None, center=True), so a
    model sees what ultralytics validated it on.
    """
    height, width = image.shape[:2]
    out_h, out_w = size
    scale = min(out_h / height, out_w / width)
    new_w, new_h = round(width * scale), round(height * scale)
    if stride:
        out_w, out_h = new_w + (out_w - new_w) % stride, new_h + (out_h - new_h) % stride
    dw, dh = (out_w - new_w) / 2, (out_h - new_h) / 2
    left, top = round(dw - 0.1), round(dh - 0.1)
    canvas = np.full((out_h, out_w, 3), PAD_VALUE, np.uint8)
    interp = cv2.INTER_LINEAR
    canvas[top : top + new_h, left : left + new_w] = (
        image if (new_w, new_h) == (width, height) else cv2.resize(image, (new_w, new_h), interpolation=interp)
    )
    return canvas, LetterboxInfo(scale, left, top, width, height)


def to_tensor(canvas: np.ndarray) -> np.ndarray:
    """BGR uint8 HxWx3 -> RGB float32 1x3xHxW in [0, 1]."""
    return cv2.dnn.blobFromImage(canvas, 1 / 255.0, swapRB=True)


def unletterbox(boxes: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Map xyxy boxes from model input pixels back to source pixels, clipped to the image."""
    out = np.empty_like(boxes, dtype=np.float32)
    out[:, [0, 2]] = np.clip((boxes[:, [0, 2]] - info.pad_x) / info.scale, 0, info.source_width)
    out[:, [1, 3]] = np.clip((boxes[:, [1, 3]] - info.pad_y) / info.scale, 0, info.source_height)
    return out
