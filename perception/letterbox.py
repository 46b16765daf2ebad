"""Letterbox an image into the model's input tensor and map boxes back to source pixels."""

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
    """Fit a BGR uint8 HxWx3 `image` into `size` (height, width), keeping aspect, centred on grey;
    return it as the model's RGB float32 1x3xHxW tensor in [0, 1].

    With `stride`, pad only up to the next multiple of it (a "rect" input: a 640x480 frame
    becomes 320x256 rather than 320x320, an elongated crop far less) for models with dynamic
    input shapes. Placement matches ultralytics' LetterBox(auto=stride is not None, center=True),
    so a model sees what ultralytics validated it on. The resized image's channels are split into planes
    (`cv2.split`, contiguous) and scaled straight into the tensor, and only the border is filled with grey:
    faster than strided channel reads into a tensor filled whole, or a uint8 canvas and
    cv2.dnn.blobFromImage (bench/README.md, "where the time goes").
    """
    height, width = image.shape[:2]
    out_h, out_w = size
    scale = min(out_h / height, out_w / width)
    new_w, new_h = round(width * scale), round(height * scale)
    if stride:
        out_w, out_h = new_w + (out_w - new_w) % stride, new_h + (out_h - new_h) % stride
    left, top = round((out_w - new_w) / 2 - 0.1), round((out_h - new_h) / 2 - 0.1)
    resized = image if (new_w, new_h) == (width, height) else cv2.resize(image, (new_w, new_h))
    tensor = np.empty((1, 3, out_h, out_w), np.float32)
    planes = tensor[0]
    bottom, right = top + new_h, left + new_w
    for border in (planes[:, :top], planes[:, bottom:], planes[:, top:bottom, :left], planes[:, top:bottom, right:]):
        border.fill(np.float32(PAD_VALUE / 255))
    channels = cv2.split(resized)
    for rgb, bgr in enumerate((2, 1, 0)):
        np.multiply(channels[bgr], np.float32(1 / 255), out=planes[rgb, top:bottom, left:right], casting="unsafe")
    return tensor, LetterboxInfo(scale, left, top, width, height)


def unletterbox(boxes: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Map xyxy boxes from model input pixels back to source pixels, clipped to the image."""
    out = np.empty_like(boxes, dtype=np.float32)
    out[:, [0, 2]] = np.clip((boxes[:, [0, 2]] - info.pad_x) / info.scale, 0, info.source_width)
    out[:, [1, 3]] = np.clip((boxes[:, [1, 3]] - info.pad_y) / info.scale, 0, info.source_height)
    return out
