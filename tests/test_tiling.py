"""Tiled stage one for frames much larger than the model's input: tile layout, box merging, and a real
(tiny) ONNX model run tile by tile through a cascade manifest."""

from __future__ import annotations

import numpy as np
import pytest

from gridscout.perception.detections import Detections
from gridscout.perception.model_loader import load_model
from gridscout.perception.tiling import TiledDetector, merge_boxes, tile_origins, tiles
from tests.onnx_fixtures import constant_output_model, ultralytics_metadata
from tests.test_detector import one_box_dense

NAMES = ("insulator", "missing_cap")


@pytest.mark.parametrize(("length", "tile", "overlap"), [(4000, 800, 0.25), (2250, 800, 0.25), (801, 800, 0.5)])
def test_tiles_cover_the_frame_with_at_least_the_overlap(length, tile, overlap):
    starts = tile_origins(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == length
    gaps = np.diff(starts)
    assert all(tile - g >= overlap * tile - 1 for g in gaps)  # neighbours share at least the overlap


def test_a_frame_smaller_than_a_tile_is_one_tile():
    assert tiles(640, 480, 800, 0.25) == [(0, 0, 640, 480)]
    assert len(tiles(4000, 2250, 800, 0.25)) == len(tile_origins(4000, 800, 0.25)) * len(tile_origins(2250, 800, 0.25))


def _dets(rows: list[tuple[float, float, float, float, float, int]]) -> Detections:
    a = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(a[:, :4], a[:, 4], a[:, 5].astype(np.int32), NAMES)


def test_a_string_cut_by_a_tile_edge_becomes_one_box_again():
    """Two halves (from two tiles) overlapping in the overlap band, plus the whole one from a third view."""
    merged = merge_boxes(_dets([(100, 100, 300, 140, 0.6, 0), (250, 100, 500, 140, 0.9, 0)]), ios=0.2)
    assert len(merged) == 1
    np.testing.assert_allclose(merged.boxes[0], [100, 100, 500, 140])
    assert merged.scores[0] == pytest.approx(0.9)


def test_merging_keeps_separate_objects_and_classes_apart():
    dets = _dets([(0, 0, 10, 10, 0.9, 0), (50, 50, 60, 60, 0.8, 0), (0, 0, 10, 10, 0.7, 1)])
    merged = merge_boxes(dets, ios=0.5)
    assert sorted(map(int, merged.class_ids)) == [0, 0, 1] and len(merged) == 3


def test_a_box_inside_a_better_one_is_absorbed():
    merged = merge_boxes(_dets([(0, 0, 100, 100, 0.9, 0), (10, 10, 40, 40, 0.5, 0)]), ios=0.5)
    assert len(merged) == 1 and merged.scores[0] == pytest.approx(0.9)


@pytest.fixture
def cascade(tmp_path):
    """Stage one finds one box at the centre of whatever it sees; stage two, one defect in each crop."""
    constant_output_model(
        tmp_path / "ins.onnx", one_box_dense(32, 32, 16, 16, [0.9]), metadata=ultralytics_metadata(["insulator"])
    )
    constant_output_model(
        tmp_path / "cap.onnx", one_box_dense(32, 32, 8, 8, [0.8]), metadata=ultralytics_metadata(["missing_cap"])
    )
    manifest = tmp_path / "cascade.toml"
    manifest.write_text(
        'name = "tiled"\n[stage1]\nmodel = "ins.onnx"\ntile = 512\ntile_overlap = 0.0\ntile_above = 600\n'
        'crop_conf = 0.5\n[stage2]\nmodel = "cap.onnx"\nmargin = 0.0\nmax_crops = 50\n'
    )
    return load_model(manifest, threads=1)


def test_a_large_frame_is_searched_tile_by_tile_and_each_tile_box_lands_in_frame_pixels(cascade):
    """A 1024x1024 frame in 2x2 tiles of 512: stage one reports one box per tile, at each tile's centre
    (plus the whole-frame one, which the merge keeps apart: it does not cover the others), and stage two
    searches each of those crops at full resolution."""
    assert isinstance(cascade.stage1, TiledDetector) and cascade.max_crops == 50 and cascade.crop_conf == 0.5
    result = cascade.detect(np.zeros((1024, 1024, 3), np.uint8))
    insulators = result.boxes[np.array(result.class_names) == "insulator"]
    centres = sorted(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in insulators)
    assert (256, 256) in centres and (768, 768) in centres and (256, 768) in centres and (768, 256) in centres
    assert sum(n == "missing_cap" for n in result.class_names) >= 4


def test_a_small_frame_is_not_tiled(cascade):
    result = cascade.detect(np.zeros((480, 600, 3), np.uint8))
    assert result.class_names.count("insulator") == 1
