"""Load a model by path: a single ONNX file, or a TOML manifest describing a cascade.

A manifest (paths relative to the manifest):

    name = "gridscout-cplid-v1"
    [stage1]
    model = "insulator.onnx"
    conf = 0.25
    imgsz = 384          # optional: run a dynamic-shape model at another size than it was exported
    crop_conf = 0.25     # optional: least stage-one score whose crop stage two searches (default: conf)
    tile = 800           # optional: frames longer than tile_above are also searched in tiles this big
    tile_overlap = 0.25
    tile_above = 1280
    [stage2]
    model = "defects.onnx"
    parent = "insulator"
    margin = 0.10
    conf = 0.25
    max_crops = 8        # parents searched per frame, best first
    [stage2.class_crop_conf]
    flashover = 0.45     # optional: a class's own least parent score, where it differs from crop_conf

Without a [stage2] table the manifest describes one detector for every class, run as stage one is
(its size, thresholds and tiles).
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gridscout.perception.cascade import Cascade
from gridscout.perception.detector import Detector
from gridscout.perception.errors import ModelError
from gridscout.perception.tiling import TiledDetector


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="ONNX file, relative to the manifest")
    conf: float = Field(0.25, ge=0.0, le=1.0, description="minimum score kept")
    iou: float = Field(0.7, gt=0.0, le=1.0, description="NMS IoU threshold")
    imgsz: int | None = Field(
        None, ge=32, le=4096, description="input size (long side) to run at; default the model's own"
    )
    class_conf: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict, description="a class's own minimum score where it differs from `conf` (class -> score)"
    )


class ParentStageSpec(StageSpec):
    crop_conf: float | None = Field(
        None, ge=0.0, le=1.0, description="least stage-one score for a crop to be searched; default `conf`"
    )
    tile: int | None = Field(
        None, ge=64, le=8192, description="frames larger than `tile_above` are also searched in tiles this big (px)"
    )
    tile_overlap: float = Field(0.25, ge=0.0, lt=1.0, description="least share of a tile its neighbour shares")
    tile_above: int = Field(1280, ge=64, description="tile frames whose long side exceeds this (px)")


class ChildStageSpec(StageSpec):
    parent: str = Field("insulator", description="stage-one class whose crops this stage searches")
    margin: float = Field(0.10, ge=0.0, le=1.0, description="crop margin, as a fraction of the parent box")
    max_crops: int = Field(8, ge=1, le=1000, description="most parents searched per frame, best first")
    class_crop_conf: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict,
        description="a class's own least parent score, where it differs from stage one's `crop_conf` (class -> score)",
    )


class CascadeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="model name, as written into reports")
    stage1: ParentStageSpec
    stage2: ChildStageSpec | None = Field(None, description="the crop stage; absent for one detector")


def _validation_message(path: Path, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        problems.append(f"{key}={value!r}: {err['msg']}")
    return f"{path}: invalid model manifest: " + "; ".join(problems)


def load_model(
    path: str | Path,
    *,
    threads: int | None = None,
    provider: str = "cpu",
    conf: float | None = None,
) -> Detector | TiledDetector | Cascade:
    """Open a model. `conf` overrides every stage's threshold when given."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: model not found (expected an .onnx file or a cascade .toml manifest)")
    if path.suffix == ".onnx":
        return Detector(path, threads=threads, provider=provider, conf=0.25 if conf is None else conf)
    if path.suffix != ".toml":
        raise ModelError(f"{path}: unknown model format {path.suffix!r}; expected .onnx or a .toml manifest")
    spec = read_manifest(path)
    first = stage_one(spec.stage1, path.parent / spec.stage1.model, threads=threads, provider=provider, conf=conf)
    if spec.stage2 is None:
        return first
    second = _detector(spec.stage2, path.parent / spec.stage2.model, threads, provider, conf)
    s1 = spec.stage1
    crop_conf = None if conf is not None or s1.crop_conf is None else s1.crop_conf
    try:
        return Cascade(
            first,
            second,
            parent=spec.stage2.parent,
            margin=spec.stage2.margin,
            max_crops=spec.stage2.max_crops,
            crop_conf=crop_conf,
            class_crop_conf=spec.stage2.class_crop_conf if conf is None else None,
            name=spec.name,
        )
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from exc


def read_manifest(path: Path) -> CascadeSpec:
    """A cascade manifest, validated; a bad one is a ModelError naming the file and the key."""
    try:
        return CascadeSpec.model_validate(tomllib.loads(path.read_text()))
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{path}: not valid TOML ({exc})") from exc
    except ValidationError as exc:
        raise ModelError(_validation_message(path, exc)) from exc


def stage_one(
    spec: ParentStageSpec,
    model: Path,
    *,
    threads: int | None = None,
    provider: str = "cpu",
    conf: float | None = None,
) -> Detector | TiledDetector:
    """`model` run as `spec` has stage one run: its input size, thresholds and tiles (`conf` overrides its own)."""
    detector = _detector(spec, model, threads, provider, conf)
    if spec.tile is None:
        return detector
    return TiledDetector(detector, tile_px=spec.tile, overlap=spec.tile_overlap, min_frame_px=spec.tile_above)


def _detector(spec: StageSpec, model: Path, threads: int | None, provider: str, conf: float | None) -> Detector:
    return Detector(
        model,
        threads=threads,
        provider=provider,
        conf=spec.conf if conf is None else conf,
        iou=spec.iou,
        imgsz=spec.imgsz,
        class_conf=spec.class_conf if conf is None else None,
    )


def model_sha256(model: Detector | TiledDetector | Cascade) -> str:
    """One hash for the whole model: a single file's sha256, or a hash of the stages' hashes."""
    if not isinstance(model, Cascade):
        return model.sha256
    return hashlib.sha256("".join(d.sha256 for d in model.detectors).encode()).hexdigest()
