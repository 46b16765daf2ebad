"""One ONNX detection model under onnxruntime: letterbox, run, decode, map back."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from gridscout.perception.decode import decode
from gridscout.perception.detections import Detections
from gridscout.perception.errors import ModelError
from gridscout.perception.letterbox import LetterboxInfo, letterbox, unletterbox
from gridscout.perception.model_meta import ModelMeta, read_meta

#: short names accepted for --provider, in preference order when "auto"
PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def resolve_providers(provider: str) -> list[str]:
    """'cpu' | 'cuda' | 'tensorrt' | 'openvino' | 'auto' -> onnxruntime provider list (CPU last)."""
    available = ort.get_available_providers()
    if provider == "auto":
        return [p for p in PROVIDERS.values() if p in available]
    if provider not in PROVIDERS:
        raise ModelError(f"unknown execution provider {provider!r}; expected one of {', '.join(PROVIDERS)} or auto")
    wanted = PROVIDERS[provider]
    if wanted not in available:
        raise ModelError(f"execution provider {provider!r} is not installed here; available: {', '.join(available)}")
    return [wanted] if wanted == PROVIDERS["cpu"] else [wanted, PROVIDERS["cpu"]]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Detector:
    """Detect objects in BGR images with one ultralytics-exported ONNX model.

    >>> det = Detector("models/insulator.onnx", threads=2)
    >>> det.detect(image).to_records()
    """

    def __init__(
        self,
        path: str | Path,
        *,
        conf: float = 0.25,
        iou: float = 0.7,
        threads: int | None = None,
        provider: str = "cpu",
        names: tuple[str, ...] | None = None,
        max_det: int = 300,
        imgsz: int | None = None,
        class_conf: dict[str, float] | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: model file not found")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # Workers spin between the operators of one run (a wake-up per operator costs more than the
        # small convolutions of a crop) and stop as soon as the run returns: a cascade's other
        # session, pre- and post-processing and the rest of the box get the cores back at once
        # (left spinning after a run, the workers took them: 2x slower per frame).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        options.add_session_config_entry("session.force_spinning_stop", "1")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=resolve_providers(provider))
        except ModelError:
            raise
        except Exception as exc:  # onnxruntime raises its own types for bad protobufs and graphs
            raise ModelError(f"{self.path}: not a loadable ONNX model ({type(exc).__name__}: {exc})") from exc
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.meta: ModelMeta = read_meta(self.path, metadata, list(model_input.shape), names)
        # A model exported with dynamic height and width takes minimally padded ("rect") inputs.
        dynamic = not all(isinstance(v, int) for v in model_input.shape[2:])
        self.rect_stride: int | None = self.meta.stride if dynamic else None
        if imgsz is not None and (imgsz, imgsz) != self.meta.imgsz:
            if not dynamic:
                raise ModelError(f"{self.path}: input size is fixed at {self.meta.imgsz}; cannot run it at {imgsz}")
            if imgsz % self.meta.stride:
                raise ModelError(f"{self.path}: imgsz {imgsz} must be a multiple of the stride {self.meta.stride}")
            self.meta = replace(self.meta, imgsz=(imgsz, imgsz))
        self.conf, self.iou, self.max_det = conf, iou, max_det
        unknown = sorted(set(class_conf or {}) - set(self.names))
        if unknown:
            raise ModelError(f"{self.path}: class_conf names {unknown}, not among the model's classes {self.names}")
        #: per-class minimum scores where they differ from `conf` (a class's curve picks its own)
        self.class_conf: dict[str, float] = dict(class_conf or {})
        self.sha256 = file_sha256(self.path)

    @property
    def names(self) -> tuple[str, ...]:
        return self.meta.names

    @property
    def name(self) -> str:
        return self.path.stem

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, LetterboxInfo]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 BGR image, got {image.dtype} {image.shape}")
        return letterbox(image, self.meta.imgsz, self.rect_stride)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: tensor})[0]

    @property
    def least_conf(self) -> float:
        """The lowest score any class keeps: `conf`, or a class's own where that is lower."""
        return min([self.conf, *self.class_conf.values()])

    def postprocess(self, output: np.ndarray, info: LetterboxInfo) -> Detections:
        boxes, scores, class_ids = decode(output, self.meta.nc, self.least_conf, self.iou, self.max_det)
        dets = Detections(unletterbox(boxes, info), scores, class_ids, self.names)
        if self.class_conf:
            least = np.array([self.class_conf.get(n, self.conf) for n in self.names], np.float32)
            dets = dets.select(dets.scores >= least[dets.class_ids])
        return dets

    def detect(self, image: np.ndarray) -> Detections:
        tensor, info = self.preprocess(image)
        return self.postprocess(self.infer(tensor), info)
