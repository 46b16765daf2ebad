"""What each training choice buys, measured on the leave-one-source-out table (issue 21, item 1).

    python -m gridscout.models.ablate                          # every variant (about 17 min each, 2 cores)
    python -m gridscout.models.ablate --only scratch yolo11n-partial
    python -m gridscout.models.ablate --table                  # print the table from models/ablations.json

Every variant trains stage one once per held-out source, on every other source, for the same fixed number of
epochs (a fixed count, not a clock, so a busy machine changes the time and not the result), exports it for
the edge (the channel-split rewrite and fp16 weights, as shipped) and scores it as the shipped stage one runs
on every photo of the held-out source. The protocol is far shorter than the shipped model's training: read
the table for differences between rows, not for absolute figures. Results go to `models/ablations.json`
(committed: the model card's table reads it); the models go to `build/ablations/`. Needs the [train] extra.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

from gridscout.edge.defaults import DEFAULT_MODEL
from gridscout.hardware.sim import make_dataset
from gridscout.models import prepare_real, train
from gridscout.models.evaluate import loso_table
from gridscout.models.export import export, for_edge
from gridscout.models.loso import INIT, run_name
from gridscout.models.sources import REPO, shared_sources

RESULTS = REPO / "models" / "ablations.json"
OUT = REPO / "build" / "ablations"
#: the protocol every variant shares
EPOCHS = 3
IMGSZ = 320
BATCH = 32
#: the renderer-first variant's first stage: this many synthetic close-ups (make_dataset), this many epochs
RENDERS = 600
RENDER_EPOCHS = 5


@dataclass(frozen=True)
class Variant:
    what: str
    init: Path | None = None  # a checkpoint to fine-tune; None trains `arch` from scratch
    arch: str = "yolov5nu.yaml"
    overrides: tuple[str, ...] = ()
    prepare: tuple[str, ...] = ()  # more `prepare_real` arguments (a data variant)
    renders_first: bool = False  # train on the project's own renders first, then on the real sources
    epochs: int = EPOCHS  # on the real sources; only the control for renders-first's extra epochs differs


VARIANTS = {
    "v5nu-coco": Variant("YOLOv5nu, COCO backbone and neck (the shipped start)", INIT),
    "scratch": Variant("YOLOv5nu from random weights"),
    "yolo11n-partial": Variant("YOLO11n, 52% of COCO weights", INIT.parent / "yolo11n-coco-partial.pt"),
    "copy-paste": Variant(
        "v5nu-coco plus 400 frames of real strings pasted onto real negatives", INIT, prepare=("--paste", "400")
    ),
    "renders-first": Variant(
        f"v5nu-coco, {RENDER_EPOCHS} epochs on {RENDERS} of the project's renders first", INIT, renders_first=True
    ),
    "renders-paste": Variant(
        f"the two best steps together: {RENDER_EPOCHS} epochs on {RENDERS} renders first, then copy-paste's data",
        INIT,
        prepare=("--paste", "400"),
        renders_first=True,
    ),
    "v5nu-coco-longer": Variant(
        f"v5nu-coco for {EPOCHS + RENDER_EPOCHS} epochs: as many as renders-first trains in all, on real photos only",
        INIT,
        epochs=EPOCHS + RENDER_EPOCHS,
    ),
    "strong-aug": Variant(
        "v5nu-coco with stronger augmentation: rotation 10 deg, scale 0.7, colour, mixup 0.15",
        INIT,
        overrides=("degrees=10", "scale=0.7", "hsv_s=0.8", "hsv_v=0.5", "translate=0.2", "mixup=0.15"),
    ),
}


def renders_start(init: Path | None) -> Path:
    """`init` trained on the project's own renders (RENDER_EPOCHS); the weights to start the real runs from."""
    data = OUT / "renders"
    if not (data / "data.yaml").is_file():
        make_dataset.main(["--out", str(data), "--images", str(RENDERS), "--seed", "3000", "--quiet"])
    start = ["--init", str(init)] if init else []
    train.main(["--stage", "insulator", "--data", str(data / "data.yaml"), *start,
                "--epochs", str(RENDER_EPOCHS), "--imgsz", str(IMGSZ), "--batch", str(BATCH),
                "--name", "ablate-renders"])  # fmt: skip
    return REPO / "models" / "runs" / "ablate-renders" / "weights" / "last.pt"


def train_variant(name: str, variant: Variant, source: str, init: Path | None) -> Path:
    """Stage one trained without `source` under the shared protocol, from `init` (None: `variant.arch` from
    scratch); returns the edge ONNX."""
    prepare_real.main(["--without", source, "--no-mining", *variant.prepare])
    data = REPO / "build" / "datasets" / f"real_stage1-without-{source}" / "data.yaml"
    start = ["--init", str(init)] if init else ["--arch", variant.arch]
    extra = [arg for item in variant.overrides for arg in ("--override", item)]
    run = f"ablate-{name}-{run_name(source)}"
    train.main(["--stage", "insulator", "--data", str(data), *start, "--epochs", str(variant.epochs),
                "--imgsz", str(IMGSZ), "--batch", str(BATCH), "--name", run, *extra])  # fmt: skip
    out = export(REPO / "models" / "runs" / run / "weights" / "last.pt", OUT / name / f"{run_name(source)}.onnx")
    print(f"{out}: {for_edge(out)}")
    return out


def run_variant(name: str, variant: Variant, manifest: Path) -> dict:
    sources = shared_sources()
    seconds = {}
    init = variant.init
    if variant.renders_first:
        started = time.monotonic()
        init = renders_start(variant.init)
        seconds["renders"] = round(time.monotonic() - started)
    for source in sources:
        started = time.monotonic()
        train_variant(name, variant, source.name, init)
        seconds[source.name] = round(time.monotonic() - started)
    table = loso_table(sources, {}, manifest, OUT / name)
    scores = {s: row["insulator"]["loso_ap50"] for s, row in table.items() if "loso_ap50" in row.get("insulator", {})}
    return {
        "what": variant.what,
        "protocol": {
            "epochs": variant.epochs,
            "imgsz": IMGSZ,
            "batch": BATCH,
            "run_at": "the shipped stage one's size",
        },
        "init": f"../shared/pretrained/{variant.init.name}" if variant.init else f"{variant.arch} (random)",
        "overrides": list(variant.overrides),
        "train_seconds": seconds,
        "loso_insulator_ap50": scores,
        "mean": round(sum(scores.values()) / len(scores), 3) if scores else None,
    }


def table(results: dict) -> str:
    """The model card's table: one row per variant, the held-out sources as columns."""
    sources = sorted({s for r in results.values() for s in r["loso_insulator_ap50"]})
    lines = [
        "| variant | " + " | ".join(f"without {s}" for s in sources) + " | mean | train time |",
        "|---|" + "---|" * (len(sources) + 2),
    ]
    for name, r in results.items():
        cells = [f"{r['loso_insulator_ap50'][s]:.3f}" if s in r["loso_insulator_ap50"] else "-" for s in sources]
        known = [v for v in r["train_seconds"].values() if v is not None]  # None: not measured (a paused run)
        minutes = f"{sum(known) / 60:.0f} min" + (" + ?" if len(known) < len(r["train_seconds"]) else "")
        lines.append(f"| {name}: {r['what']} | " + " | ".join(cells) + f" | {r['mean']:.3f} | {minutes} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="these variants (default: all)")
    parser.add_argument("--table", action="store_true", help="print the table of the results so far and stop")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results JSON (default: %(default)s)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the manifest whose stage one they run as")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    if not args.table:
        for name in args.only or list(VARIANTS):
            print(f"ablate: {name}: {VARIANTS[name].what}", flush=True)
            results[name] = run_variant(name, VARIANTS[name], args.model)
            args.results.write_text(json.dumps(results, indent=2) + "\n")  # after each: a stopped run keeps the rest
    if not results:
        parser.exit(1, f"ablate: no results in {args.results}: run without --table first\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
