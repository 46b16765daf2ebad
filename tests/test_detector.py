"""The Detector and model loading on real (tiny) ONNX files: metadata, decoding, bad models."""

import numpy as np
import pytest

from gridscout.perception.cascade import Cascade
from gridscout.perception.detector import Detector, resolve_providers
from gridscout.perception.errors import ModelError
from gridscout.perception.model_loader import load_model, model_sha256
from gridscout.perception.tiling import TiledDetector
from tests.onnx_fixtures import constant_output_model, ultralytics_metadata


def one_box_dense(cx, cy, w, h, scores, n=8):
    """A [1, 4 + nc, n] output with one real anchor and n-1 empty ones."""
    out = np.zeros((1, 4 + len(scores), n), np.float32)
    out[0, :, 0] = [cx, cy, w, h, *scores]
    return out


def test_reads_names_imgsz_and_maps_boxes_to_source_pixels(tmp_path):
    # model input 64x64; a 128x96 source is scaled by 0.5 and padded 8 px top and bottom
    output = one_box_dense(32, 32, 16, 8, [0.1, 0.9])
    path = constant_output_model(tmp_path / "m.onnx", output, metadata=ultralytics_metadata(["insulator", "defect"]))
    det = Detector(path, threads=1)
    assert det.names == ("insulator", "defect") and det.meta.imgsz == (64, 64) and det.meta.stride == 32
    result = det.detect(np.zeros((96, 128, 3), np.uint8))
    assert result.class_names == ["defect"]
    np.testing.assert_allclose(result.boxes, [[48, 40, 80, 56]])
    assert result.to_records() == [
        {"class": "defect", "confidence": 0.9, "box": [48.0, 40.0, 80.0, 56.0], "track_id": None}
    ]


def test_dynamic_input_model_gets_a_minimally_padded_input(tmp_path):
    meta = ultralytics_metadata(["insulator"]) | {"stride": "8"}
    path = constant_output_model(
        tmp_path / "dyn.onnx", one_box_dense(32, 24, 16, 8, [0.9]), metadata=meta, dynamic=True
    )
    det = Detector(path)
    tensor, info = det.preprocess(np.zeros((96, 128, 3), np.uint8))
    assert tensor.shape == (1, 3, 48, 64) and info.pad_y == 0  # 128x96 -> 64x48, already a multiple of 8
    np.testing.assert_allclose(det.detect(np.zeros((96, 128, 3), np.uint8)).boxes, [[48, 40, 80, 56]])


def test_model_without_metadata_is_refused_unless_names_given(tmp_path):
    path = constant_output_model(tmp_path / "bare.onnx", one_box_dense(32, 32, 8, 8, [0.9]))
    with pytest.raises(ModelError, match=r"bare\.onnx: the model has no 'names' metadata"):
        Detector(path)
    det = Detector(path, names=("insulator",))
    assert det.meta.imgsz == (64, 64)  # taken from the static input shape
    assert det.detect(np.zeros((64, 64, 3), np.uint8)).class_names == ["insulator"]


def test_malformed_metadata_names_the_key(tmp_path):
    meta = ultralytics_metadata(["a"]) | {"names": "{1: 'gap'}"}
    path = constant_output_model(tmp_path / "m.onnx", one_box_dense(1, 1, 1, 1, [0.9]), metadata=meta)
    with pytest.raises(ModelError, match=r"'names' must map class ids 0\.\.n-1"):
        Detector(path)
    meta = ultralytics_metadata(["a"]) | {"imgsz": "[64]"}
    path = constant_output_model(tmp_path / "m2.onnx", one_box_dense(1, 1, 1, 1, [0.9]), metadata=meta)
    with pytest.raises(ModelError, match="'imgsz' must be"):
        Detector(path)


def test_end2end_layout_model(tmp_path):
    out = np.zeros((1, 300, 6), np.float32)
    out[0, 0] = [8, 8, 24, 24, 0.7, 1]
    path = constant_output_model(tmp_path / "e2e.onnx", out, metadata=ultralytics_metadata(["a", "b"]))
    result = Detector(path).detect(np.zeros((64, 64, 3), np.uint8))
    np.testing.assert_allclose(result.boxes, [[8, 8, 24, 24]])
    assert result.class_names == ["b"]


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"", "not a loadable ONNX model"), (b"\x08\x07garbage" * 50, "not a loadable ONNX model")],
)
def test_corrupt_model_file_gets_a_clear_error(tmp_path, content, why):
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=rf"broken\.onnx: {why}"):
        Detector(path)


def test_truncated_real_model_is_refused(tmp_path):
    good = constant_output_model(
        tmp_path / "good.onnx", one_box_dense(1, 1, 1, 1, [0.9]), metadata=ultralytics_metadata(["a"])
    )
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelError, match=r"cut\.onnx"):
        Detector(bad)


def test_missing_model_and_unknown_provider(tmp_path):
    with pytest.raises(ModelError, match=r"nope\.onnx: model file not found"):
        Detector(tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match="unknown execution provider 'tpu'"):
        resolve_providers("tpu")
    assert resolve_providers("cpu") == ["CPUExecutionProvider"]
    assert resolve_providers("auto")[-1] == "CPUExecutionProvider"


def test_wrong_image_type_is_rejected(tmp_path):
    path = constant_output_model(
        tmp_path / "m.onnx", one_box_dense(1, 1, 1, 1, [0.9]), metadata=ultralytics_metadata(["a"])
    )
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        Detector(path).detect(np.zeros((10, 10), np.uint8))


def write_cascade(tmp_path, extra: str = "") -> object:
    # stage 1: one insulator covering the middle of a 64x64 input
    constant_output_model(
        tmp_path / "ins.onnx", one_box_dense(32, 32, 40, 40, [0.9]), metadata=ultralytics_metadata(["insulator"])
    )
    # stage 2: one defect at the centre of whatever crop it sees (crop letterboxed to 64x64)
    constant_output_model(
        tmp_path / "def.onnx", one_box_dense(32, 32, 8, 8, [0.8]), metadata=ultralytics_metadata(["defect"])
    )
    manifest = tmp_path / "cascade.toml"
    manifest.write_text(
        'name = "test-cascade"\n[stage1]\nmodel = "ins.onnx"\n'
        f'[stage2]\nmodel = "def.onnx"\nparent = "insulator"\nmargin = 0.0\n{extra}'
    )
    return manifest


def test_cascade_maps_stage_two_boxes_into_the_frame(tmp_path):
    model = load_model(write_cascade(tmp_path), threads=1)
    assert isinstance(model, Cascade) and model.names == ("insulator", "defect")
    result = model.detect(np.zeros((64, 64, 3), np.uint8))
    assert result.class_names == ["insulator", "defect"]
    # the insulator crop is [12, 12, 52, 52] (40 px, scale 1.6 into 64): the defect centre maps to 32
    np.testing.assert_allclose(result.boxes[1], [29.5, 29.5, 34.5, 34.5])
    assert len(model_sha256(model)) == 64


def test_manifest_errors_name_the_key_and_value(tmp_path):
    with pytest.raises(ModelError, match=r"stage2.margni='x': Extra inputs are not permitted"):
        load_model(write_cascade(tmp_path, 'margni = "x"\n'))
    with pytest.raises(ModelError, match=r"stage2.conf=2.0: Input should be less than or equal to 1"):
        load_model(write_cascade(tmp_path, "conf = 2.0\n"))
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(ModelError, match=r"bad\.toml: not valid TOML"):
        load_model(bad)
    with pytest.raises(ModelError, match=r"model\.pt: unknown model format '\.pt'"):
        (tmp_path / "model.pt").write_bytes(b"x")
        load_model(tmp_path / "model.pt")


def test_imgsz_override_needs_a_dynamic_model_and_a_stride_multiple(tmp_path):
    meta = ultralytics_metadata(["a"])
    static = constant_output_model(tmp_path / "s.onnx", one_box_dense(1, 1, 1, 1, [0.9]), metadata=meta)
    with pytest.raises(ModelError, match=r"input size is fixed at \(64, 64\); cannot run it at 96"):
        Detector(static, imgsz=96)
    dynamic = constant_output_model(tmp_path / "d.onnx", one_box_dense(1, 1, 1, 1, [0.9]), metadata=meta, dynamic=True)
    with pytest.raises(ModelError, match="imgsz 100 must be a multiple of the stride 32"):
        Detector(dynamic, imgsz=100)
    det = Detector(dynamic, imgsz=96)
    assert det.preprocess(np.zeros((48, 96, 3), np.uint8))[0].shape == (1, 3, 64, 96)  # 48 -> 64 (stride 32)


def test_workers_stop_spinning_when_a_run_returns():
    """Scenario: the shipped cascade at 2 threads, then the box idles between frames. The workers spin only
    inside a run; left spinning after it they would burn a core the other processes need (measured: about
    40% of a core for 100 ms after every run)."""
    import time

    from gridscout.edge.defaults import DEFAULT_MODEL

    model = load_model(DEFAULT_MODEL, threads=2)
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    idle_cpu = []
    for _ in range(5):
        model.detect(image)
        before = time.process_time()
        time.sleep(0.2)
        idle_cpu.append(time.process_time() - before)
    # spinning after the run would show as ~0.08 s of CPU in each 0.2 s sleep
    assert min(idle_cpu) < 0.02, f"CPU time while idle after a run: {idle_cpu}"


def test_a_class_keeps_its_own_threshold(tmp_path):
    """Scenario: a three-class defect stage whose flashover threshold, picked on its own curve, sits above the
    stage's `conf` and whose broken-disc threshold sits below it."""
    out = np.zeros((1, 7, 8), np.float32)
    out[0, :, 0] = [10, 10, 8, 8, 0.35, 0, 0]  # missing_cap 0.35
    out[0, :, 1] = [30, 30, 8, 8, 0, 0.2, 0]  # broken_disc 0.2
    out[0, :, 2] = [50, 50, 8, 8, 0, 0, 0.45]  # flashover 0.45
    meta = ultralytics_metadata(["missing_cap", "broken_disc", "flashover"])
    path = constant_output_model(tmp_path / "d.onnx", out, metadata=meta)
    image = np.zeros((64, 64, 3), np.uint8)
    assert sorted(Detector(path, conf=0.3).detect(image).class_names) == ["flashover", "missing_cap"]
    own = Detector(path, conf=0.3, class_conf={"broken_disc": 0.15, "flashover": 0.5})
    assert sorted(own.detect(image).class_names) == ["broken_disc", "missing_cap"]
    with pytest.raises(ModelError, match=r"class_conf names \['nest'\], not among the model's classes"):
        Detector(path, class_conf={"nest": 0.5})


def test_manifest_class_conf_reaches_stage_two_and_is_checked(tmp_path):
    model = load_model(write_cascade(tmp_path, "conf = 0.25\n[stage2.class_conf]\ndefect = 0.85\n"), threads=1)
    assert model.stage2.class_conf == {"defect": 0.85}
    assert model.detect(np.zeros((64, 64, 3), np.uint8)).class_names == ["insulator"]  # its 0.8 is under 0.85
    with pytest.raises(ModelError, match=r"stage2.class_conf.defect=1.5: Input should be less than or equal to 1"):
        load_model(write_cascade(tmp_path, "[stage2.class_conf]\ndefect = 1.5\n"))


def test_a_manifest_without_stage_two_is_one_tiled_detector(tmp_path):
    """Scenario: the one-detector alternative to the cascade (every class in one network), shipped as a
    manifest so it keeps stage one's size, thresholds and tiles."""
    write_cascade(tmp_path)
    manifest = tmp_path / "single.toml"
    manifest.write_text('name = "one-detector"\n[stage1]\nmodel = "ins.onnx"\ntile = 64\ntile_above = 96\n')
    model = load_model(manifest, threads=1)
    assert isinstance(model, TiledDetector) and model.names == ("insulator",)
    assert model.detect(np.zeros((64, 64, 3), np.uint8)).class_names == ["insulator"]
    assert len(model.detect(np.zeros((128, 128, 3), np.uint8)).boxes) >= 1  # whole frame plus tiles
    assert model_sha256(model) == model.detector.sha256


def test_a_class_searches_only_parents_as_sure_as_its_own_crop_threshold(tmp_path):
    """Scenario: flashover marks show on clean lines when weak string boxes are searched, missing caps do not:
    flashover asks for parents scoring 0.6, caps keep the crop threshold of 0.3."""
    first = np.zeros((1, 5, 8), np.float32)
    first[0, :, 0] = [16, 32, 24, 40, 0.9]  # a sure string on the left
    first[0, :, 1] = [48, 32, 24, 40, 0.4]  # a weak one on the right
    constant_output_model(tmp_path / "ins.onnx", first, metadata=ultralytics_metadata(["insulator"]))
    second = np.zeros((1, 6, 8), np.float32)
    second[0, :, 0] = [20, 32, 8, 8, 0.8, 0]  # a missing cap in each crop
    second[0, :, 1] = [44, 32, 8, 8, 0, 0.8]  # a flashover mark in each crop
    meta = ultralytics_metadata(["missing_cap", "flashover"])
    constant_output_model(tmp_path / "def.onnx", second, metadata=meta)
    manifest = tmp_path / "cascade.toml"
    head = 'name = "c"\n[stage1]\nmodel = "ins.onnx"\ncrop_conf = 0.3\n[stage2]\nmodel = "def.onnx"\nmargin = 0.0\n'
    manifest.write_text(head + "[stage2.class_crop_conf]\nflashover = 0.6\n")
    model = load_model(manifest, threads=1)
    assert model.search_conf == 0.3 and model.class_crop_conf == {"flashover": 0.6}
    image = np.zeros((64, 64, 3), np.uint8)
    result, parents = model.detect_traced(image)
    names = result.class_names
    assert names.count("insulator") == 2 and names.count("missing_cap") == 2 and names.count("flashover") == 1
    assert parents[names.index("flashover")] == pytest.approx(0.9)  # found in the sure string only
    assert load_model(manifest, threads=1, conf=0.3).detect(image).class_names.count("flashover") == 2  # override
    manifest.write_text(head + "[stage2.class_crop_conf]\nnest = 0.6\n")
    with pytest.raises(ModelError, match=r"cascade\.toml: class_crop_conf names \['nest'\], not among stage two's"):
        load_model(manifest)
