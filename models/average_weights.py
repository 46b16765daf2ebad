"""Average the weights of two checkpoints of one architecture (a "model soup", Wortsman et al. 2022).

A stage fine-tuned on field data from a CPLID checkpoint can trade a little of CPLID for the field;
averaging it with its starting point often keeps most of both, since the two share one basin.

    python -m gridscout.models.average_weights models/checkpoints/insulator.pt \\
        models/runs/insulator-field/weights/best.pt --weight 0.5 --out build/insulator-soup.pt

`--weight` is the second checkpoint's share. Needs the [train] extra (torch).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gridscout.models.ultralytics_env import configure


def average(first: Path, second: Path, weight: float, out: Path) -> Path:
    configure()
    import torch

    a = torch.load(first, map_location="cpu", weights_only=False)
    b = torch.load(second, map_location="cpu", weights_only=False)
    model_a, model_b = a.get("ema") or a["model"], b.get("ema") or b["model"]
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    if state_a.keys() != state_b.keys() or any(state_a[k].shape != state_b[k].shape for k in state_a):
        raise SystemExit(f"{first} and {second}: not the same architecture")
    mixed = {
        k: (state_a[k].float() * (1 - weight) + state_b[k].float() * weight).to(state_b[k].dtype)
        if state_b[k].is_floating_point()
        else state_b[k]
        for k in state_b
    }
    model_b.load_state_dict(mixed)
    b["model"], b["ema"] = model_b, None
    b["train_args"] = {**b.get("train_args", {}), "soup": f"{first} x{1 - weight:g} + {second} x{weight:g}"}
    for key in ("optimizer", "updates"):
        b.pop(key, None)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(b, out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path, help="a checkpoint (.pt)")
    parser.add_argument("second", type=Path, help="a checkpoint of the same architecture")
    parser.add_argument("--weight", type=float, default=0.5, help="the second checkpoint's share (0..1)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        parser.error("--weight must be within 0..1")
    for path in (args.first, args.second):
        if not path.is_file():
            parser.error(f"{path}: not found")
    print(average(args.first, args.second, args.weight, args.out))


if __name__ == "__main__":
    main()
