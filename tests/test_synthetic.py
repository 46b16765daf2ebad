"""The synthetic inspection-scene renderer: determinism, ground truth, the URI source and the dataset writer."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from gridscout.hardware.camera.base import SourceError
from gridscout.hardware.sim import make_dataset
from gridscout.hardware.sim.scene.classes import CLASS_NAMES, DEFECT_TYPES
from gridscout.hardware.sim.scene.scene import MIN_DEFECT_PX, MIN_INSULATOR_PX, TruthBox, render_frame
from gridscout.hardware.sim.synthetic_source import DEMO, SyntheticSource, params_from_uri

URI = "synthetic://drone?seed=7&frames=120&width=320&height=240&fps=10"


@pytest.fixture(scope="module")
def drone() -> SyntheticSource:
    return SyntheticSource(URI)


@pytest.fixture(scope="module")
def demo() -> SyntheticSource:
    return SyntheticSource("synthetic://demo")


def _contains(outer: tuple[float, ...], inner: tuple[float, ...], tol: float = 1.0) -> bool:
    return (
        inner[0] >= outer[0] - tol
        and inner[1] >= outer[1] - tol
        and inner[2] <= outer[2] + tol
        and inner[3] <= outer[3] + tol
    )


def test_same_seed_gives_identical_frames_and_boxes(drone: SyntheticSource) -> None:
    """Two sources from one URI render byte-identical frames and equal truth, in any frame order."""
    other = SyntheticSource(URI)
    for i in (97, 3, 50):
        img_a, truth_a = drone.render(i)
        img_b, truth_b = other.render(i)
        assert img_a.dtype == np.uint8 and img_a.shape == (240, 320, 3)
        assert np.array_equal(img_a, img_b)
        assert truth_a == truth_b


def test_other_seed_gives_other_frames(drone: SyntheticSource) -> None:
    other = SyntheticSource(URI.replace("seed=7", "seed=8"))
    assert not np.array_equal(drone.render(10)[0], other.render(10)[0])


def test_consecutive_frames_differ_smoothly(drone: SyntheticSource) -> None:
    """The camera moves: frames change, but little from one frame to the next (a tracker can follow)."""
    a, b, far = drone.render(40)[0], drone.render(41)[0], drone.render(80)[0]
    step = np.abs(a.astype(int) - b).mean()
    assert 0 < step < np.abs(a.astype(int) - far).mean()


def test_boxes_inside_frame_and_plausible(drone: SyntheticSource, demo: SyntheticSource) -> None:
    seen_insulator = seen_defect = False
    for src in (drone, demo):
        w, h = src.params.width, src.params.height
        for i in range(0, src.frame_count, 3):
            for b in src.truth(i):
                assert isinstance(b, TruthBox) and b.class_name == CLASS_NAMES[b.class_id]
                x1, y1, x2, y2 = b.box
                assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, b
                long_side, short_side = max(x2 - x1, y2 - y1), min(x2 - x1, y2 - y1)
                if b.class_id == 0:
                    seen_insulator = True
                    assert long_side >= MIN_INSULATOR_PX
                else:
                    seen_defect = True
                    assert b.class_id == 1  # only missing caps unless other types are asked for
                    assert short_side >= MIN_DEFECT_PX and long_side <= 0.4 * w, b
    assert seen_insulator and seen_defect


def test_defect_boxes_lie_inside_an_insulator_box(demo: SyntheticSource) -> None:
    n = 0
    for i in range(demo.frame_count):
        truth = demo.truth(i)
        insulators = [b.box for b in truth if b.class_id == 0]
        for d in (b for b in truth if b.class_id != 0):
            n += 1
            assert any(_contains(ins, d.box) for ins in insulators), (i, d)
    assert n > 0


def test_demo_has_several_defects_passing_by(demo: SyntheticSource) -> None:
    """The demo shows defects in several separate passes, each for a while, at CPLID-like sizes."""
    flags = [any(b.class_id == 1 for b in demo.truth(i)) for i in range(demo.frame_count)]
    runs = [len(list(g)) for k, g in itertools.groupby(flags) if k]
    assert demo.frame_count >= 200 and demo.fps == 10
    assert len([r for r in runs if r >= 5]) >= 3, runs
    sizes = [
        min(b.box[2] - b.box[0], b.box[3] - b.box[1])
        for i in range(demo.frame_count)
        for b in demo.truth(i)
        if b.class_id == 1
    ]
    assert 15 <= float(np.median(sizes)) <= 60


def test_frame_count_fps_and_names_honoured() -> None:
    src = SyntheticSource("synthetic://crawler?seed=2&frames=4&width=160&height=120&fps=25")
    frames = list(src)
    assert src.frame_count == 4 and src.fps == 25 and src.is_live is False
    assert src.name == "synthetic-crawler-s2"
    assert [f.frame_id for f in frames] == [0, 1, 2, 3]
    assert frames[2].name == "synthetic-crawler-s2#000002" and frames[2].source_name == src.name
    assert frames[0].image.shape == (120, 160, 3)
    with pytest.raises(IndexError):
        src.truth(4)


def test_plain_render_function_matches_source(drone: SyntheticSource) -> None:
    img, truth = render_frame(drone.params, 60)
    img2, truth2 = drone.render(60)
    assert np.array_equal(img, img2) and truth == truth2


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("synthetic://drone?sede=3", ["'sede'", "seed"]),
        ("synthetic://drone?frames=0", ["'frames'", "'0'", "integer"]),
        ("synthetic://drone?fps=fast", ["'fps'", "'fast'", "number"]),
        ("synthetic://drone?width=99999", ["'width'", "'99999'"]),
        ("synthetic://drone?defect_types=missing_cap,rust", ["'defect_types'", "rust"]),
        ("synthetic://drone?defect_rate=2", ["'defect_rate'", "'2'"]),
        ("synthetic://drone?seed=1&seed=2", ["'seed'", "twice"]),
        ("synthetic://helicopter", ["'helicopter'", "drone"]),
    ],
)
def test_bad_uris_raise_source_error_naming_the_problem(uri: str, words: list[str]) -> None:
    with pytest.raises(SourceError) as err:
        SyntheticSource(uri)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_uri_parsing_and_demo_defaults() -> None:
    p = params_from_uri("synthetic://crawler?seed=3&speed=1.5&defect_types=bird_nest,missing_cap&defect_rate=0.2")
    assert (p.mode, p.seed, p.speed, p.defect_rate) == ("crawler", 3, 1.5, 0.2)
    assert p.defect_types == ("missing_cap", "bird_nest")
    assert params_from_uri("synthetic://demo") == DEMO
    assert SyntheticSource("synthetic://demo").name == "synthetic-demo"


def test_extra_defect_types_only_when_asked() -> None:
    """Broken discs (2) and nests (3) are drawn and labelled only when asked for; ids follow CLASS_NAMES."""
    query = "seed=7&frames=160&width=320&height=240&defect_rate=1"
    extra = SyntheticSource(f"synthetic://drone?{query}&defect_types=missing_cap,broken_disc,bird_nest")
    ids = {b.class_id for i in range(0, 160, 4) for b in extra.truth(i)}
    assert {DEFECT_TYPES["broken_disc"], DEFECT_TYPES["bird_nest"]} <= ids
    plain = SyntheticSource(f"synthetic://drone?{query}")
    assert {b.class_id for i in range(0, 160, 4) for b in plain.truth(i)} == {0, 1}
    assert not plain.scene.layout.nests and not any(s.spec.broken for s in plain.scene.layout.strings)


def test_make_dataset_writes_a_yolo_layout(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert make_dataset.main(["--out", str(out), "--images", "3", "--seed", "5", "--imgsz", "320x240", "--quiet"]) == 0
    images = sorted((out / "images" / "train").glob("*.jpg"))
    labels = sorted((out / "labels" / "train").glob("*.txt"))
    assert len(images) == 3 and [p.stem for p in images] == [p.stem for p in labels]
    yaml = (out / "data.yaml").read_text()
    assert "train: images/train" in yaml and "0: insulator" in yaml and "1: missing_cap" in yaml and "nc: 2" in yaml
    n_boxes = 0
    for lab in labels:
        for line in lab.read_text().splitlines():
            cls, *xywh = line.split()
            assert int(cls) in (0, 1)
            vals = [float(v) for v in xywh]
            assert len(vals) == 4 and all(0 <= v <= 1 for v in vals) and vals[2] > 0 and vals[3] > 0
            n_boxes += 1
    assert n_boxes >= 3  # every photo shows at least its target string
    # the same seed writes the same images
    again = tmp_path / "again"
    make_dataset.main(["--out", str(again), "--images", "1", "--seed", "5", "--imgsz", "320x240", "--quiet"])
    assert (again / "images" / "train" / images[0].name).read_bytes() == images[0].read_bytes()


@pytest.mark.parametrize(
    "args", [["--imgsz", "640by480"], ["--images", "-2"], ["--defect-types", "rust"], ["--images", "0"]]
)
def test_make_dataset_rejects_bad_arguments(
    tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--out", str(tmp_path / "x"), "--images", "2", *args]
    with pytest.raises(SystemExit) as exc:
        make_dataset.main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
