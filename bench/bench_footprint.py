"""What README's first command installs: runtime site-packages size, against its target, with no torch,
scipy or matplotlib.

    python bench/bench_footprint.py              # a fresh venv, `pip install -e .` of this checkout (~2 min)
    python bench/bench_footprint.py --closure    # offline: the runtime closure of the installed environment
    python bench/bench_footprint.py --json footprint.json

The default builds a new virtual environment in a temporary directory and runs README's first command
there (`pip install -e .`: the registry must be reachable), then sums the files under its site-packages,
and lists the largest distributions. `--closure` sums instead the files of the distributions that
gridscout's runtime requirements pull in, in this environment (test and training extras left out), as
their RECORD files list them; it needs no network. pip, setuptools and the venv's own files are not
counted either way (they come with every venv). Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import finish_machine, machine, machine_line  # noqa: E402

#: Issue 7 set 350 MB, before drones and recordings: the design card's MAVLink library (pymavlink, which pulls
#: in lxml and fastcrc; 61 MB of files, about 105 MB once pip has compiled them) and MCAP writer (mcap with
#: zstandard and lz4, 30 MB) came after it and have no lighter kept alternative. 500 MB is that budget plus
#: them; what else is installed is held to the old one.
SITE_PACKAGES_TARGET_MB = 500.0
FORBIDDEN = ("torch", "scipy", "matplotlib")
#: in every venv, whatever is installed
BASELINE = {"pip", "setuptools", "wheel", "_distutils_hack", "distutils-precedence.pth"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def fresh_venv() -> dict:
    """README's first command in a new venv; sizes of what it put into site-packages."""
    with tempfile.TemporaryDirectory(prefix="gs-footprint-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        print(f"pip install -e {REPO} into {venv} ...", file=sys.stderr, flush=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", str(REPO)], check=True)
        (site,) = (venv / "lib").glob("python*/site-packages")
        listing = subprocess.run(
            [str(venv / "bin" / "python"), "-c", _LIST_DISTS], capture_output=True, text=True, check=True
        )
        dists = json.loads(listing.stdout)
        entries = {p.name: (_dir_mb(p) if p.is_dir() else p.stat().st_size / 1e6) for p in site.iterdir()}
        counted = {k: v for k, v in entries.items() if not any(k.startswith(b) for b in BASELINE)}
        return {"method": "fresh venv, pip install -e .", "total_mb": sum(counted.values()), "distributions": dists}


_LIST_DISTS = """
import json
from importlib import metadata
out = {}
for d in metadata.distributions():
    size = sum((f.size or 0) for f in (d.files or []))
    out[d.metadata["Name"]] = round(size / 1e6, 2)
print(json.dumps(out))
"""


def closure() -> dict:
    """The runtime requirement closure of gridscout in this environment, summed from RECORD files."""
    seen: dict[str, float] = {}
    todo = ["gridscout"]
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = sum((f.size or 0) for f in (dist.files or [])) / 1e6
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            todo.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    seen.pop("gridscout", None)
    return {"method": "runtime closure of this environment", "total_mb": sum(seen.values()), "distributions": seen}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--closure", action="store_true", help="offline: size the installed runtime closure instead")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    info = machine()
    result = closure() if args.closure else fresh_venv()
    dists = {k: v for k, v in result["distributions"].items() if _norm(k) not in {_norm(b) for b in BASELINE}}
    forbidden = sorted(d for d in dists if _norm(d) in FORBIDDEN)
    print(f"runtime install footprint ({result['method']})")
    for name, mb in sorted(dists.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {name:<28} {mb:8.1f} MB")
    total = result["total_mb"]
    size_ok = total <= SITE_PACKAGES_TARGET_MB
    print(
        f"site-packages  {total:7.1f} MB   target <= {SITE_PACKAGES_TARGET_MB:.0f} MB: {'PASS' if size_ok else 'FAIL'}"
    )
    print(f"torch, scipy, matplotlib: {', '.join(forbidden) + ' installed: FAIL' if forbidden else 'none: PASS'}")
    print(machine_line(finish_machine(info)))
    if args.json:
        limit = f"<= {SITE_PACKAGES_TARGET_MB:.0f}"
        banned = ", ".join(forbidden) or "none"
        targets = [
            {"what": "runtime site-packages MB", "measured": f"{total:.0f}", "limit": limit, "ok": size_ok},
            {"what": "torch, scipy, matplotlib installed", "measured": banned, "limit": "none", "ok": not forbidden},
        ]
        record = {
            **result,
            "forbidden": forbidden,
            "ok": size_ok and not forbidden,
            "targets": targets,
            "machine": info,
        }
        args.json.write_text(json.dumps(record, indent=2))
    return 0 if size_ok and not forbidden else 1


if __name__ == "__main__":
    raise SystemExit(main())
