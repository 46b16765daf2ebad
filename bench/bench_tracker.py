"""Pick the multi-object tracker by measurement: install size, import RSS and tracking quality against truth.

    python bench/bench_tracker.py              # install what is missing under build/trackers/, then measure
    python bench/bench_tracker.py --offline    # only what is installed there already

For each candidate tracker package, in one run, with Roboflow's `trackers` (the one the project used to
wrap) as the baseline every ratio is taken against:

- install size: `pip install --target build/trackers/<install> <packages>` (skipped when the package's
  dist-info is already there), then the size on disk of the whole dependency closure, and of the part
  beyond numpy (which the product ships anyway); plus the distributions in it.
- import RSS: in a fresh `python -S` with PYTHONPATH set to that folder only, VmRSS (/proc/self/status)
  after `import numpy`, after also importing the tracker, and after building one tracker and feeding it
  one frame; the delta over numpy alone, median of 3 processes. Where the closure holds its own cv2, the
  share of cv2 alone is measured too (the product loads cv2 anyway).
- tracking quality, on two detection sets over the same synthetic footage with known truth (FOOTAGE
  below; truth boxes carry the physical object's id): (1) the shipped model's detections, run once and
  cached under build/bench_tracker/ so reruns are fast; (2) the truth boxes through a seeded fake
  detector (10% misses, 4% box noise, per-object scores 0.35..0.9, a few false alarms), which has many
  more objects to track than the model finds. Every candidate gets the same detections, one tracker per
  class, in a subprocess isolated as above (a small adapter per candidate), with the product's
  settings where the package has the knob (rows note the differences): lost after 3 s, new tracks from
  score 0.3, confirmed after 2 frames in a row, association IoU 0.1, high/low split at 0.5.
  Tracked boxes (detections that got a confirmed track id) are matched to truth boxes of their class in
  each frame (IoU >= 0.5, greedy), and per class it reports: truth objects, objects the detections hit
  at all ("found"), coverage (share of truth objects that got at least one track), distinct track ids
  per matched object (ideal 1.0), ID switches (changes of matched track id along an object's life),
  false tracks (ids never matched to a truth object), merged tracks (ids matched to more than one
  object), all tracks, and frame recall (share of found object-frames that carry a track id).
- time per update: wall time of one frame's update over all per-class trackers, adapter included
  (median and 95th percentile over the model set's frames), and whether two fresh trackers give the
  same ids ("same ids": the chain's replay mode needs it).

Numbers on a shared machine are noisy: compare within one run. Prints a resources table and one quality
table per detection set and class, then the closures; exits 0 (a candidate that fails to install or run
gets its error in the notes).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = REPO / "build" / "trackers"
CACHE = REPO / "build" / "bench_tracker"

FOOTAGE = (
    "synthetic://demo",
    "synthetic://drone?seed=1&frames=150&defect_rate=0.8",
    "synthetic://drone?seed=11&frames=150&defect_rate=0.8",
    "synthetic://drone?seed=3&frames=150&defect_rate=0.5",
    "synthetic://crawler?seed=3&frames=150&defect_rate=0.8",
)
CLASSES = ("insulator", "missing_cap")
MATCH_IOU = 0.5

# The product's tracker settings, given to every candidate that has the knob.
LOST_S, ACTIVATION, MIN_HITS, MIN_IOU, HIGH = 3.0, 0.3, 2, 0.1, 0.5


@dataclass(frozen=True)
class Candidate:
    name: str  # row label and adapter key
    install: str  # folder under build/trackers/
    packages: tuple[str, ...]  # pip requirements; the first names the package itself
    module: str  # imported for the RSS probe
    note: str = ""


CANDIDATES = (
    Candidate(
        "trackers",
        "trackers",
        ("trackers==2.6.1",),
        "trackers",
        "baseline, configured as the product wrapped it: lost_track_buffer counts 30-fps frames, so 3 s became 1 s",
    ),
    Candidate("trackers-3s", "trackers", ("trackers==2.6.1",), "trackers", "same, lost_track_buffer=90 (really 3 s)"),
    Candidate(
        "edgefirst",
        "edgefirst",
        ("edgefirst-tracker==0.38.0",),
        "edgefirst.tracker",
        "Rust ByteTrack (Au-Zone); high=0.5 also starts tracks, update=1.0; 2-frame confirmation in the adapter",
    ),
    Candidate(
        "edgefirst-u0.25",
        "edgefirst",
        ("edgefirst-tracker==0.38.0",),
        "edgefirst.tracker",
        "same with the package's default Kalman update factor 0.25",
    ),
    Candidate(
        "edgefirst-h0.3",
        "edgefirst",
        ("edgefirst-tracker==0.38.0",),
        "edgefirst.tracker",
        "same as edgefirst with high=0.3 (so tracks start from 0.3, as the product's activation)",
    ),
    Candidate(
        "ioutrack", "ioutrack", ("ioutrack-rs==0.4.0", "numpy"), "ioutrack", "Rust ByteTrack; wheel omits numpy dep"
    ),
    Candidate(
        "pyxtrackers",
        "pyxtrackers",
        ("pyxtrackers==2026.3.3",),
        "pyxtrackers",
        "Cython ByteTrack; track_thresh=0.5 (new tracks from 0.6)",
    ),
    Candidate(
        "pyxtrackers-t0.2",
        "pyxtrackers",
        ("pyxtrackers==2026.3.3",),
        "pyxtrackers",
        "same, track_thresh=0.2 (new tracks from 0.3, no low round)",
    ),
    Candidate(
        "cjm-byte-track", "cjm", ("cjm-byte-track==0.0.6",), "cjm_byte_track", "Python ByteTrack on scipy, thresh=0.5"
    ),
    Candidate("norfair", "norfair", ("norfair==2.3.0",), "norfair", "IoU-distance tracker on scipy/filterpy"),
)


# --- adapters: run inside `python -S` with only the candidate's folder on sys.path -----------------------


def make_tracker(name: str, fps: float):
    """One tracker of candidate `name` for one class: a function (boxes (n,4), scores (n,)) -> ids (n,), -1 none."""
    import numpy as np

    lost_frames = max(1, round(LOST_S * fps))

    def by_iou(out_boxes, out_ids, boxes):
        """Rows of `boxes` that the tracker's output boxes stand for (greedy IoU >= 0.5)."""
        ids = np.full(len(boxes), -1, np.int64)
        for row, col in _greedy_match(_iou(np.asarray(out_boxes, float), boxes), MATCH_IOU):
            ids[col] = int(out_ids[row])
        return ids

    if name.startswith("trackers"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import supervision as sv
            from trackers import ByteTrackTracker

        t = ByteTrackTracker(  # lost_track_buffer is in 30-fps frames; the product passed frames at `fps`
            lost_track_buffer=round(LOST_S * 30) if name == "trackers-3s" else lost_frames,
            frame_rate=fps,
            track_activation_threshold=ACTIVATION,
            minimum_consecutive_frames=MIN_HITS,
            minimum_iou_threshold=MIN_IOU,
            high_conf_det_threshold=HIGH,
        )

        def update(boxes, scores):
            n = len(scores)
            dets = sv.Detections(boxes, confidence=scores, class_id=np.zeros(n, int), data={"row": np.arange(n)})
            out = t.update(dets)
            ids = np.full(n, -1, np.int64)
            if len(out):
                ids[out.data["row"]] = out.tracker_id
            return ids

    elif name.startswith("edgefirst"):
        from edgefirst.tracker import ByteTrack

        high = 0.3 if name.endswith("h0.3") else HIGH
        gain = 0.25 if name.endswith("u0.25") else 1.0
        t = ByteTrack(high_conf=high, iou=MIN_IOU, update=gain, lifespan_ns=int(LOST_S * 1e9))
        clock, streak, confirmed, numbers = [0], {}, set(), {}  # it has no confirmation: count frames here

        def update(boxes, scores):
            clock[0] += round(1e9 / fps)
            n = len(scores)
            infos = t.update(boxes.astype(np.float32), scores.astype(np.float32), np.zeros(n, np.uint64), clock[0])
            ids = np.full(len(scores), -1, np.int64)
            for i, info in enumerate(infos):
                if info is None:
                    continue
                last, run = streak.get(info.uuid, (-2, 0))
                streak[info.uuid] = (clock[0], run + 1 if last == clock[0] - round(1e9 / fps) else 1)
                if streak[info.uuid][1] >= MIN_HITS:
                    confirmed.add(info.uuid)
                if info.uuid in confirmed:
                    ids[i] = numbers.setdefault(info.uuid, len(numbers))
            return ids

    elif name == "ioutrack":
        from ioutrack import ByteTrack

        t = ByteTrack(
            max_age=lost_frames,
            min_hits=MIN_HITS,
            iou_threshold=MIN_IOU,
            init_tracker_min_score=ACTIVATION,
            high_score_threshold=HIGH,
            low_score_threshold=0.1,
        )

        def update(boxes, scores):
            out = t.update(np.c_[boxes, scores].astype(np.float64).reshape(-1, 5), return_all=False)
            return by_iou(out[:, :4], out[:, 4], boxes)

    elif name.startswith("pyxtrackers"):
        from pyxtrackers import BYTETracker

        thresh = 0.2 if name.endswith("t0.2") else HIGH
        # ByteTrack keeps lost tracks frame_rate / 30 * track_buffer frames; match_thresh is 1 - IoU
        t = BYTETracker(frame_rate=fps, track_thresh=thresh, match_thresh=1 - MIN_IOU, track_buffer=round(LOST_S * 30))

        def update(boxes, scores):
            out = t.update(np.c_[boxes, scores].astype(np.float64).reshape(-1, 5))
            return by_iou(out[:, :4], out[:, 4], boxes)

    elif name == "cjm-byte-track":
        from cjm_byte_track.byte_tracker import BYTETracker

        t = BYTETracker(track_thresh=HIGH, track_buffer=round(LOST_S * 30), match_thresh=1 - MIN_IOU, frame_rate=fps)

        def update(boxes, scores):
            n = len(scores)
            if not n:  # it cannot take an empty frame: age its tracks with a far-off dummy
                boxes, scores = np.array([[-1e6, -1e6, -1e6 + 1, -1e6 + 1]]), np.array([0.01])
            out = t.update(np.c_[boxes, scores], (1, 1), (1, 1))
            return by_iou([s.tlbr for s in out], [s.track_id for s in out], boxes)[:n]

    elif name == "norfair":
        from norfair import Detection
        from norfair import Tracker as NorfairTracker

        t = NorfairTracker(
            distance_function="iou",
            distance_threshold=1 - MIN_IOU,
            hit_counter_max=lost_frames,
            initialization_delay=MIN_HITS - 1,
            detection_threshold=ACTIVATION,
        )

        def update(boxes, scores):
            dets = [
                Detection(b.reshape(2, 2), np.array([s, s]), data=i)
                for i, (b, s) in enumerate(zip(boxes, scores, strict=True))
            ]
            ids = np.full(len(scores), -1, np.int64)
            now = {id(d) for d in dets}
            for obj in t.update(dets):
                if obj.id is not None and id(obj.last_detection) in now:
                    ids[obj.last_detection.data] = obj.id
            return ids

    else:
        raise ValueError(f"no adapter for {name!r}")
    return update


def run_adapter(name: str, inp: str, out: str) -> None:
    """Feed every sequence's detections to fresh per-class trackers (twice, to check determinism)."""
    import numpy as np

    data = np.load(inp)
    seq, frame, boxes, scores, classes = (data[k] for k in ("seq", "frame", "boxes", "scores", "classes"))
    n_frames, fps = data["n_frames"], data["fps"]
    runs, times = [], []
    for attempt in range(2):
        ids = np.full(len(scores), -1, np.int64)
        for s in range(len(n_frames)):
            trackers, global_ids = {}, {}
            in_seq = np.flatnonzero(seq == s)
            starts = np.searchsorted(frame[in_seq], np.arange(n_frames[s] + 1))
            for f in range(n_frames[s]):
                rows = in_seq[starts[f] : starts[f + 1]]
                t0 = time.perf_counter()
                for c in sorted(set(trackers) | set(classes[rows].tolist())):
                    if c not in trackers:
                        trackers[c] = make_tracker(name, float(fps[s]))
                    mine = rows[classes[rows] == c]
                    local = trackers[c](boxes[mine].astype(np.float64).reshape(-1, 4), scores[mine].astype(np.float64))
                    for row, lid in zip(mine, local, strict=True):
                        if lid >= 0:  # one id space per sequence, numbered in order of first appearance
                            ids[row] = global_ids.setdefault((c, int(lid)), len(global_ids) + 1)
                if attempt == 0:
                    times.append(time.perf_counter() - t0)
        runs.append(ids)
    np.savez(out, ids=runs[0], times=np.array(times), deterministic=np.array(bool((runs[0] == runs[1]).all())))


def rss_probe(name: str, module: str, cv2: bool) -> None:
    """Print JSON: VmRSS (kB) after numpy, [cv2,] the tracker module, and one tracker fed one frame."""
    import importlib
    import warnings

    def rss() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    import numpy as np

    out = {"numpy": rss()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cv2:
            importlib.import_module("cv2")
            out["cv2"] = rss()
        importlib.import_module(module)
        out["module"] = rss()
        make_tracker(name, 10.0)(np.array([[10.0, 10, 60, 90]]), np.array([0.9]))
        out["update"] = rss()
    print(json.dumps(out))


# --- measurement helpers (also used by the adapters: numpy only) -------------------------------------------


def _iou(a, b):
    import numpy as np

    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2:] - x[:, :2], 0, None).prod(-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _greedy_match(iou, thr: float) -> list[tuple[int, int]]:
    """(row, col) pairs, best IoU first, each row and column used once, IoU >= thr."""
    import numpy as np

    iou = np.array(iou, float)
    pairs = []
    while iou.size and iou.max() >= thr:
        r, c = np.unravel_index(int(np.argmax(iou)), iou.shape)
        pairs.append((int(r), int(c)))
        iou[r, :] = -1
        iou[:, c] = -1
    return pairs


def _env(install: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(TARGETS / install)
    env["PYTHONNOUSERSITE"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def _isolated(install: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """This file, in `python -S` (no site-packages) with only the candidate's folder on sys.path."""
    cmd = [sys.executable, "-S", str(Path(__file__).resolve()), *args]
    return subprocess.run(cmd, env=_env(install), capture_output=True, text=True, timeout=timeout)


# --- install and size ----------------------------------------------------------------------------------


def _dist_name(dist_info: Path) -> str:
    return dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("-", "_").replace(".", "_")


def installed(c: Candidate) -> bool:
    want = c.packages[0].split("==")[0].lower().replace("-", "_")
    version = c.packages[0].split("==")[1] if "==" in c.packages[0] else ""
    return any(
        _dist_name(d) == want and d.name.endswith(f"-{version}.dist-info" if version else ".dist-info")
        for d in (TARGETS / c.install).glob("*.dist-info")
    )


def install(c: Candidate) -> str:
    """Install the candidate's closure into its own folder; '' or an error."""
    target = TARGETS / c.install
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(target)]
    proc = subprocess.run([*cmd, *c.packages], capture_output=True, text=True, env=_env(c.install))
    if proc.returncode:
        return f"pip failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1]}"
    return ""


def closure_size(install_dir: str) -> dict:
    """Bytes of the whole folder, bytes of numpy's files (from its RECORD), and the distributions."""
    target = TARGETS / install_dir
    total = sum(p.stat().st_size for p in target.rglob("*") if p.is_file() and not p.is_symlink())
    numpy_bytes, dists = 0, []
    for d in sorted(target.glob("*.dist-info")):
        dists.append(d.name.removesuffix(".dist-info"))
        if _dist_name(d) != "numpy" or not (d / "RECORD").exists():
            continue
        seen = set()
        for line in (d / "RECORD").read_text().splitlines():
            path = (target / line.rsplit(",", 2)[0]).resolve()
            if path not in seen and path.is_file() and target.resolve() in path.parents:
                seen.add(path)
                numpy_bytes += path.stat().st_size
        for pyc in target.glob("numpy/**/__pycache__/*.pyc"):  # written on import, not in RECORD
            if pyc.resolve() not in seen:
                numpy_bytes += pyc.stat().st_size
    return {"total": total, "beyond_numpy": total - numpy_bytes, "dists": dists}


def measure_rss(c: Candidate) -> dict:
    has_cv2 = (TARGETS / c.install / "cv2").is_dir()
    samples = []
    for _ in range(3):
        proc = _isolated(c.install, "--rss-probe", c.name, c.module, "1" if has_cv2 else "0", timeout=300)
        if proc.returncode:
            return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    out = {"import_mb": (med["module"] - med["numpy"]) / 1024, "update_mb": (med["update"] - med["numpy"]) / 1024}
    if has_cv2:
        out["cv2_mb"] = (med["cv2"] - med["numpy"]) / 1024
    return out


# --- footage, detections and truth ------------------------------------------------------------------------


def load_footage(uris: tuple[str, ...]) -> dict:
    """Detections of the shipped model and truth boxes, per sequence, concatenated (cached under build/)."""
    import numpy as np

    from gridscout.edge.defaults import DEFAULT_MODEL
    from gridscout.perception.model_loader import load_model, model_sha256

    model = None
    parts = []
    model_key = hashlib.sha256(Path(DEFAULT_MODEL).read_bytes()).hexdigest()
    for path in sorted(Path(DEFAULT_MODEL).parent.glob("*.onnx")):
        model_key += hashlib.sha256(path.read_bytes()).hexdigest()
    for uri in uris:
        key = hashlib.sha256(f"{uri}|{model_key}|v1".encode()).hexdigest()[:16]
        cache = CACHE / f"footage-{key}.npz"
        if not cache.exists():
            if model is None:
                model = load_model(DEFAULT_MODEL, threads=2)
                print(f"running the shipped model ({model_sha256(model)[:12]}) over synthetic footage, once")
            parts_one = _detect_footage(uri, model)
            CACHE.mkdir(parents=True, exist_ok=True)
            np.savez(cache, **parts_one)
        parts.append(dict(np.load(cache)))
    out = {}
    for k in ("frame", "boxes", "scores", "classes", "t_frame", "t_boxes", "t_classes", "t_objects"):
        out[k] = np.concatenate([p[k] for p in parts])
    out["seq"] = np.concatenate([np.full(len(p["frame"]), s) for s, p in enumerate(parts)])
    out["t_seq"] = np.concatenate([np.full(len(p["t_frame"]), s) for s, p in enumerate(parts)])
    out["n_frames"] = np.array([int(p["n_frames"]) for p in parts])
    out["fps"] = np.array([float(p["fps"]) for p in parts])
    return out


def _detect_footage(uri: str, model) -> dict:
    import numpy as np

    from gridscout.hardware.sim.synthetic_source import SyntheticSource

    src = SyntheticSource(uri)
    names = list(model.names)
    missing = [c for c in CLASSES if c not in names]
    if missing:  # the premise: the model detects every class the bench tracks
        from bench.common import premise_broken

        raise SystemExit(premise_broken("bench_tracker", f"the model has no class {', '.join(missing)}"))
    # classes the bench does not track (the shipped cascade's broken_disc, flashover) are left out
    t0 = time.perf_counter()
    det, tru = [], []
    for i in range(src.frame_count):
        image, truth = src.render(i)
        d = model.detect(image)
        det += [
            (i, *b, s, CLASSES.index(names[c]))
            for b, s, c in zip(d.boxes.tolist(), d.scores.tolist(), d.class_ids.tolist(), strict=True)
            if names[c] in CLASSES
        ]
        tru += [(i, *t.box, CLASSES.index(t.class_name), t.object_id) for t in truth if t.class_name in CLASSES]
    print(f"  {uri}: {src.frame_count} frames, {len(det)} detections, {time.perf_counter() - t0:.0f} s")
    return {
        "frame": np.array([r[0] for r in det], np.int64),
        "boxes": np.array([r[1:5] for r in det], np.float32).reshape(-1, 4),
        "scores": np.array([r[5] for r in det], np.float32),
        "classes": np.array([r[6] for r in det], np.int64),
        "t_frame": np.array([r[0] for r in tru], np.int64),
        "t_boxes": np.array([r[1:5] for r in tru], np.float32).reshape(-1, 4),
        "t_classes": np.array([r[5] for r in tru], np.int64),
        "t_objects": np.array([r[6] for r in tru], str),
        "n_frames": np.array(src.frame_count),
        "fps": np.array(src.fps),
    }


def jittered_truth(fo: dict, seed: int = 0) -> dict:
    """Detections made from the truth boxes: a seeded detector with misses, box noise and false alarms.

    Each truth box is missed with p=0.1, else its corners move by N(0, 4% of the box size); its score is
    a per-object base (0.35..0.9) plus N(0, 0.1) per frame, in 0.26..0.99. Each frame gets, with p=0.05
    per class, one false alarm scoring 0.26..0.45 somewhere in the frame.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    keep = rng.random(len(fo["t_frame"])) >= 0.1
    boxes = fo["t_boxes"].astype(np.float64)
    size = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
    boxes = boxes + rng.normal(0, 0.04, boxes.shape) * size
    base = {
        o: rng.uniform(0.35, 0.9) for o in sorted(set(zip(fo["t_seq"].tolist(), fo["t_objects"].tolist(), strict=True)))
    }
    scores = np.array([base[k] for k in zip(fo["t_seq"].tolist(), fo["t_objects"].tolist(), strict=True)])
    scores = np.clip(scores + rng.normal(0, 0.1, len(scores)), 0.26, 0.99)
    rows = [
        (int(s), int(f), *b, sc, int(c))
        for s, f, b, sc, c, k in zip(
            fo["t_seq"], fo["t_frame"], boxes.tolist(), scores, fo["t_classes"], keep, strict=True
        )
        if k
    ]
    for s, n in enumerate(fo["n_frames"]):
        for f in range(int(n)):
            for c in range(len(CLASSES)):
                if rng.random() < 0.05:
                    x, y, w, h = rng.uniform(0, 560), rng.uniform(0, 400), rng.uniform(10, 80), rng.uniform(10, 80)
                    rows.append((s, f, x, y, x + w, y + h, rng.uniform(0.26, 0.45), c))
    rows.sort(key=lambda r: (r[0], r[1]))
    out = dict(fo)
    out["seq"] = np.array([r[0] for r in rows], np.int64)
    out["frame"] = np.array([r[1] for r in rows], np.int64)
    out["boxes"] = np.array([r[2:6] for r in rows], np.float32).reshape(-1, 4)
    out["scores"] = np.array([r[6] for r in rows], np.float32)
    out["classes"] = np.array([r[7] for r in rows], np.int64)
    return out


# --- scoring against truth ----------------------------------------------------------------------------------


def score(fo: dict, ids) -> dict[str, dict]:
    """Per class: truth objects, found, coverage, ids per object, switches, false/merged tracks, frame recall."""
    import numpy as np

    out = {}
    for c, cname in enumerate(CLASSES):
        obj_tracks: dict[tuple, list[int]] = {}  # truth object -> matched track id per frame, in order
        track_objs: dict[tuple, set] = {}
        found: set[tuple] = set()
        found_frames = tracked_frames = 0
        objects = {
            (int(s), str(o))
            for s, o in zip(fo["t_seq"][fo["t_classes"] == c], fo["t_objects"][fo["t_classes"] == c], strict=True)
        }
        tracks = {(int(s), int(t)) for s, t, k in zip(fo["seq"], ids, fo["classes"], strict=True) if k == c and t >= 0}
        for s in range(len(fo["n_frames"])):
            det_c = np.flatnonzero((fo["seq"] == s) & (fo["classes"] == c))
            tru_c = np.flatnonzero((fo["t_seq"] == s) & (fo["t_classes"] == c))
            d_frames, t_frames = fo["frame"][det_c], fo["t_frame"][tru_c]
            for f in np.unique(t_frames):
                truth_rows = tru_c[t_frames == f]
                det_rows = det_c[d_frames == f]
                tboxes = fo["t_boxes"][truth_rows]
                for ti, _ in _greedy_match(_iou(tboxes, fo["boxes"][det_rows]), MATCH_IOU):
                    found.add((s, str(fo["t_objects"][truth_rows[ti]])))
                    found_frames += 1
                tracked = det_rows[ids[det_rows] >= 0]
                for ti, di in _greedy_match(_iou(tboxes, fo["boxes"][tracked]), MATCH_IOU):
                    obj, track = (s, str(fo["t_objects"][truth_rows[ti]])), (s, int(ids[tracked[di]]))
                    obj_tracks.setdefault(obj, []).append(track[1])
                    track_objs.setdefault(track, set()).add(obj)
                    tracked_frames += 1
        out[cname] = {
            "objects": len(objects),
            "found": len(found),
            "coverage": len(obj_tracks) / len(objects) if objects else float("nan"),
            "ids_per_obj": statistics.mean(len(set(v)) for v in obj_tracks.values()) if obj_tracks else float("nan"),
            "switches": sum(sum(a != b for a, b in itertools.pairwise(v)) for v in obj_tracks.values()),
            "false_tracks": len(tracks - set(track_objs)),
            "merged_tracks": sum(len(v) > 1 for v in track_objs.values()),
            "tracks": len(tracks),
            "frame_recall": tracked_frames / found_frames if found_frames else float("nan"),
        }
    return out


def measure_quality(c: Candidate, tag: str, fo: dict) -> dict:
    """Run the candidate's adapter over the detection set `tag` (written by main) and score it."""
    import numpy as np

    inp, out = CACHE / f"adapter-in-{tag}.npz", CACHE / f"adapter-out-{tag}-{c.name}.npz"
    out.unlink(missing_ok=True)
    proc = _isolated(c.install, "--adapter", c.name, str(inp), str(out))
    if proc.returncode or not out.exists():
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    res = np.load(out)
    times = res["times"] * 1e6
    return {
        "classes": score(fo, res["ids"]),
        "us_median": float(np.median(times)),
        "us_p95": float(np.percentile(times, 95)),
        "deterministic": bool(res["deterministic"]),
    }


# --- report --------------------------------------------------------------------------------------------------


def _ratio(value: float, base: float) -> str:
    if base is None or value is None or base != base or value != value:
        return ""
    if base == 0:
        return "(=)" if value == 0 else "(new)"
    return f"({value / base:.2f}x)"


SETS = {"model": "the shipped model's detections", "jitter": "jittered truth (seeded misses, noise, false alarms)"}


def report(rows: list[dict]) -> None:
    base = next((r for r in rows if r["name"] == "trackers"), {})

    def cell(r: dict, path: tuple, fmt: str) -> str:
        v, b = r, base
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
            b = b.get(k) if isinstance(b, dict) else None
        if v is None:
            return "-"
        return f"{format(v, fmt)} {_ratio(v, b)}".strip()

    print("\nResources (ratios against trackers, measured in this run; update times on the model's detections)")
    head = ["candidate", "closure MB", "beyond numpy MB", "dists", "import RSS MB", "+1 update MB"]
    head += ["median us/update", "p95 us", "same ids"]
    lines = [head]
    for r in rows:
        q = r.get("model", {})
        lines.append(
            [
                r["name"],
                cell(r, ("size", "total_mb"), ".1f"),
                cell(r, ("size", "beyond_numpy_mb"), ".1f"),
                str(len(r["size"]["dists"])) if "dists" in r.get("size", {}) else "-",
                cell(r, ("rss", "import_mb"), ".1f"),
                cell(r, ("rss", "update_mb"), ".1f"),
                cell(r, ("model", "us_median"), ".0f"),
                cell(r, ("model", "us_p95"), ".0f"),
                {True: "yes", False: "NO"}.get(q.get("deterministic"), "-"),
            ]
        )
    _table(lines)
    for tag, words in SETS.items():
        for cname in CLASSES:
            print(f"\nQuality on {words}, {cname} (truth match IoU >= {MATCH_IOU}; ratios against trackers)")
            head = ["candidate", "objects", "found", "coverage", "ids/object", "switches", "false tracks"]
            head += ["merged", "tracks", "frame recall"]
            lines = [head]
            for r in rows:
                p = (tag, "classes", cname)
                lines.append(
                    [
                        r["name"],
                        cell(r, (*p, "objects"), "d"),
                        cell(r, (*p, "found"), "d"),
                        cell(r, (*p, "coverage"), ".2f"),
                        cell(r, (*p, "ids_per_obj"), ".2f"),
                        cell(r, (*p, "switches"), "d"),
                        cell(r, (*p, "false_tracks"), "d"),
                        cell(r, (*p, "merged_tracks"), "d"),
                        cell(r, (*p, "tracks"), "d"),
                        cell(r, (*p, "frame_recall"), ".2f"),
                    ]
                )
            _table(lines)
    print("\nNotes")
    for r in rows:
        errors = [f"{k}: {v['error']}" for k, v in r.items() if isinstance(v, dict) and "error" in v]
        extra = f"; cv2 alone is {r['rss']['cv2_mb']:.1f} MB of its import RSS" if "cv2_mb" in r.get("rss", {}) else ""
        print(f"- {r['name']}: {r['note']}{extra}" + (f"; ERROR {'; '.join(errors)}" if errors else ""))
        dists = ", ".join(r.get("size", {}).get("dists", []))
        if dists and r["first_of_install"]:
            print(f"    closure in build/trackers/{r['install']}: {dists}")


def _table(lines: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    for j, row in enumerate(lines):
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--offline", action="store_true", help="install nothing; use what build/trackers/ holds")
    ap.add_argument("--only", nargs="*", help="candidate names to measure (trackers is always measured)")
    ap.add_argument("--footage", nargs="*", default=list(FOOTAGE), help="synthetic:// URIs to track over")
    ap.add_argument("--json", type=Path, help="also write every number to this file")
    ap.add_argument("--adapter", nargs=3, metavar=("NAME", "IN", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--rss-probe", nargs=3, metavar=("NAME", "MODULE", "CV2"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.adapter:
        run_adapter(*args.adapter)
        return 0
    if args.rss_probe:
        rss_probe(args.rss_probe[0], args.rss_probe[1], args.rss_probe[2] == "1")
        return 0

    import numpy as np

    chosen = [c for c in CANDIDATES if not args.only or c.name in args.only or c.name == "trackers"]
    sys.path.insert(0, str(REPO))
    from bench.common import machine

    info = machine()
    sets = {"model": load_footage(tuple(args.footage))}
    sets["jitter"] = jittered_truth(sets["model"])
    for tag, fo in sets.items():
        keys = ("seq", "frame", "boxes", "scores", "classes", "n_frames", "fps")
        np.savez(CACHE / f"adapter-in-{tag}.npz", **{k: fo[k] for k in keys})
    rows, sized = [], {}
    for c in chosen:
        row: dict = {"name": c.name, "install": c.install, "note": c.note, "first_of_install": c.install not in sized}
        rows.append(row)
        if not installed(c):
            if args.offline:
                row["size"] = {"error": f"not installed in build/trackers/{c.install} (--offline)"}
                continue
            print(f"installing {' '.join(c.packages)} into build/trackers/{c.install}")
            err = install(c)
            if err:
                row["size"] = {"error": err}
                continue
        if c.install not in sized:
            s = closure_size(c.install)
            mb = {"total_mb": s["total"] / 1e6, "beyond_numpy_mb": s["beyond_numpy"] / 1e6}
            sized[c.install] = {**mb, "dists": s["dists"]}
        row["size"] = sized[c.install]
        print(f"measuring {c.name}")
        row["rss"] = measure_rss(c)
        for tag, fo in sets.items():
            row[tag] = measure_quality(c, tag, fo)
    report(rows)
    from bench.common import finish_machine, machine_line

    print(machine_line(finish_machine(info)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if not any("rss" in row for row in rows):
        from bench.common import premise_broken

        return premise_broken("bench_tracker", "no candidate could be measured (see the notes above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
