"""Read what an ultralytics ONNX export says about itself: class names, input size, stride."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from gridscout.perception.errors import ModelError


@dataclass(frozen=True, slots=True)
class ModelMeta:
    names: tuple[str, ...]
    imgsz: tuple[int, int]  # (height, width) of the model input
    stride: int
    description: str = ""

    @property
    def nc(self) -> int:
        return len(self.names)


def _literal(path: Path, key: str, text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise ModelError(f"{path}: metadata '{key}' is not a Python literal: {text[:80]!r}") from exc


def parse_names(path: Path, text: str) -> tuple[str, ...]:
    """`"{0: 'insulator', 1: 'missing_cap'}"` -> ('insulator', 'missing_cap'); ids must run 0..n-1."""
    value = _literal(path, "names", text)
    if isinstance(value, list | tuple):
        value = dict(enumerate(value))
    if not isinstance(value, dict) or sorted(value) != list(range(len(value))):
        raise ModelError(f"{path}: metadata 'names' must map class ids 0..n-1 to names, got {text[:80]!r}")
    return tuple(str(value[i]) for i in range(len(value)))


def parse_imgsz(path: Path, text: str) -> tuple[int, int]:
    value = _literal(path, "imgsz", text)
    if isinstance(value, int):
        value = [value, value]
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
        raise ModelError(f"{path}: metadata 'imgsz' must be [height, width], got {text!r}")
    return int(value[0]), int(value[1])


def read_meta(
    path: Path,
    metadata: dict[str, str],
    input_shape: list,
    names: tuple[str, ...] | None = None,
) -> ModelMeta:
    """Build ModelMeta from ONNX custom metadata, falling back to the input shape for imgsz.

    `names` overrides the model's; without either, the model is refused.
    """
    if names is None:
        if "names" not in metadata:
            raise ModelError(
                f"{path}: the model has no 'names' metadata (expected an ultralytics ONNX export); "
                "pass the class names explicitly to use it anyway"
            )
        names = parse_names(path, metadata["names"])
    if "imgsz" in metadata:
        imgsz = parse_imgsz(path, metadata["imgsz"])
    elif len(input_shape) == 4 and all(isinstance(v, int) for v in input_shape[2:]):
        imgsz = (int(input_shape[2]), int(input_shape[3]))
    else:
        raise ModelError(f"{path}: no 'imgsz' metadata and a dynamic input shape {input_shape}; cannot size input")
    try:
        stride = int(metadata.get("stride", 32))
    except ValueError as exc:
        raise ModelError(f"{path}: metadata 'stride' must be an integer, got {metadata['stride']!r}") from exc
    return ModelMeta(tuple(names), imgsz, stride, metadata.get("description", ""))
