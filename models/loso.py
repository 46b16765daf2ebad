"""Leave-one-source-out: for each labelled source, stage one trained without it, for `evaluate`'s table.

    python -m gridscout.models.loso --hours 0.15      # prepare, train and export each (0.15 h a source, 2 cores)
    python -m gridscout.models.loso --export-only     # export runs trained already (models/runs/insulator-without-*)
    python -m gridscout.models.evaluate --sets sources loso --no-curve --no-speed

A random val split of one source overstates what a crew will see on another utility's line; a model that
never saw a source, scored on every photo of it, is the honest estimate. The runs are shorter than the
shipped model's (say so beside the figures). Writes `models/loso/insulator-without-<source>.onnx`, small
enough to commit, so `evaluate` prints the table without training anything. Needs the [train] extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gridscout.models import prepare_real, train
from gridscout.models.evaluate import LOSO_DIR
from gridscout.models.export import export, for_edge
from gridscout.models.sources import REPO, SHARED, shared_sources

#: the stage-one recipe (as the shipped stage one, on a shorter clock)
INIT = SHARED.parent / "pretrained" / "yolov5nu-coco-backbone.pt"
RECIPE = ("--stage", "insulator", "--imgsz", "384", "--batch", "32")


def run_name(source: str) -> str:
    return f"insulator-without-{source}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=0.15, help="training budget per source")
    parser.add_argument("--init", type=Path, default=INIT, help="weights each run starts from")
    parser.add_argument("--only", nargs="*", help="these sources only (default: every labelled source)")
    parser.add_argument("--export-only", action="store_true", help="export the runs trained already")
    parser.add_argument("--out", type=Path, default=LOSO_DIR)
    args = parser.parse_args(argv)
    names = [s.name for s in shared_sources()]
    for name in args.only or names:
        if name not in names:
            parser.error(f"--only {name}: no such source ({', '.join(names)})")
        run = REPO / "models" / "runs" / run_name(name)
        if not args.export_only:
            prepare_real.main(["--without", name, "--no-mining"])
            data = REPO / "build" / "datasets" / f"real_stage1-without-{name}" / "data.yaml"
            train.main([*RECIPE, "--data", str(data), "--init", str(args.init), "--hours", str(args.hours),
                        "--name", run_name(name)])  # fmt: skip
        weights = run / "weights" / "best.pt"
        if not weights.is_file():
            parser.exit(1, f"loso: {weights} not found: train it first (without --export-only)\n")
        out = export(weights, args.out / f"{run_name(name)}.onnx")
        print(f"{out}: {for_edge(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
