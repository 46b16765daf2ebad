"""Train one stage of the cascade with ultralytics, from a yaml (no downloaded weights).

    python -m gridscout.models.train --stage insulator --hours 1.4
    python -m gridscout.models.train --stage missing_cap --hours 1.4
    python -m gridscout.models.train --stage missing_cap --init models/runs/missing_cap/weights/best.pt \
        --name missing_cap-mixed --hours 0.7
    python -m gridscout.models.train --stage missing_cap --resume models/runs/missing_cap/weights/last.pt
    python -m gridscout.models.train --stage insulator --data build/datasets/stage1_field/data.yaml \
        --init models/checkpoints/insulator.pt --name insulator-field --hours 1.2
    python -m gridscout.models.train --stage insulator --data build/datasets/stage1_field/data.yaml \
        --init models/runs/insulator-field/weights/best.pt --name insulator-field2 --hours 0.5 \
        --override optimizer=AdamW --override lr0=0.0005 --override warmup_epochs=0

Prepare the data first: `python -m gridscout.models.prepare_data`. Needs the [train] extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gridscout.models.ultralytics_env import REPO, configure

STAGES = {
    # stage: (data yaml under build/datasets, default imgsz)
    "insulator": ("stage1_insulator/data.yaml", 320),
    "missing_cap": ("stage2_missing_cap/data.yaml", 320),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=sorted(STAGES), required=True)
    parser.add_argument("--arch", default="yolo11n.yaml", help="ultralytics model yaml (built from scratch)")
    parser.add_argument("--imgsz", type=int, help="square training size (default per stage)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--hours", type=float, help="wall-clock budget; overrides --epochs and fits the LR schedule")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="'cpu' or a CUDA index such as 0")
    parser.add_argument("--init", type=Path, help="start from these weights (a .pt checkpoint) instead of scratch")
    parser.add_argument("--resume", type=Path, help="continue an interrupted run from its last.pt")
    parser.add_argument("--name", help="run folder under models/runs (default: the stage)")
    parser.add_argument("--datasets", type=Path, default=REPO / "build" / "datasets")
    parser.add_argument(
        "--data", type=Path, help="a data.yaml to train on instead of the stage's own (e.g. stage1_field/data.yaml)"
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an ultralytics train setting, e.g. lr0=0.0005 (repeatable; numbers and true/false are parsed)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.override:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--override {item!r}: expected KEY=VALUE")
        overrides[key] = _scalar(value)

    configure()
    from ultralytics import YOLO

    if args.resume:
        YOLO(str(args.resume)).train(resume=True)
        return
    data_yaml, default_size = STAGES[args.stage]
    data = args.data or args.datasets / data_yaml
    if not data.exists():
        parser.error(f"{data} not found: run `python -m gridscout.models.prepare_data` first")
    # Weights come from a checkpoint (kept by the trainer) or the architecture yaml (from scratch).
    model = YOLO(str(args.init) if args.init else args.arch)
    model.train(**train_settings(args, data, default_size, overrides))


def train_settings(args: argparse.Namespace, data: Path, default_size: int, overrides: dict) -> dict:
    """ultralytics' train() settings for this run: GridScout's defaults, then each --override in place of one."""
    settings = dict(
        data=str(data),
        imgsz=args.imgsz or default_size,
        epochs=args.epochs,
        batch=args.batch,
        workers=args.workers,
        device=args.device,
        cache="ram",
        project=str(REPO / "models" / "runs"),
        name=args.name or args.stage,
        exist_ok=True,
        pretrained=bool(args.init),
        amp=False,
        plots=True,
        seed=0,
        deterministic=False,
        patience=0,
    )
    if args.hours:
        settings["time"] = args.hours
    return {**settings, **overrides}


def _scalar(text: str) -> bool | int | float | str:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


if __name__ == "__main__":
    main()
