"""`gridscout mission here`: a mission file where a MAVLink vehicle is (an ArduPilot SITL at CMAC, a drone on site).
`gridscout mission towers`: an asset registry of a mission's line, a tower at each of its vertices, for trying the
fleet's asset link on a simulated run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gridscout.edge.defaults import DEMO_MISSION


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mission",
        help="make mission files",
        description="Make mission files (GeoJSON, see docs/flying.md).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    here = actions.add_parser(
        "here",
        help="a mission like another (the demo's), starting where a MAVLink vehicle is, along its heading",
        description=(
            "Read a MAVLink vehicle's position and heading (it commands nothing) and write a mission like --like "
            "(default: the bundled demo's): the same line length and shape, standoff, altitude above home, speed, "
            "camera and geofence, turned and moved so its flight path starts at the vehicle and sets off the way "
            "its nose points. Fly it with `gridscout run --vehicle URI --mission FILE`."
        ),
        epilog=(
            "Example (ArduPilot SITL, see docs/flying.md): gridscout mission here --vehicle mavlink:tcp:127.0.0.1:5762 "
            "-o sitl.mission.geojson"
        ),
    )
    here.add_argument("--vehicle", required=True, metavar="URI", help="mavlink:<pymavlink connection string>")
    here.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="the mission file to write")
    here.add_argument(
        "--like", type=Path, default=DEMO_MISSION, metavar="FILE", help="the mission to copy (default: the demo's)"
    )
    here.add_argument("--heading", type=float, metavar="DEG", help="set off this way instead (degrees from north)")
    here.add_argument("--name", help="the new mission's name (default: the copied one's with ' @ here')")
    here.add_argument("--timeout", type=float, default=10.0, metavar="S", help="wait this long for a position")
    here.set_defaults(func=run_here)

    towers = actions.add_parser(
        "towers",
        help="an asset registry with a tower at each vertex of a mission's line (to try `fleet assets import`)",
        description=(
            "Write a CSV asset registry in the columns `gridscout fleet assets import` takes: a tower at each "
            "vertex of the mission's conductor route (the bundled demo's by default), named T-1, T-2, ... A "
            "utility's own registry comes from its asset system; this is for a simulated run."
        ),
        epilog="Example: gridscout mission towers -o towers.csv; gridscout fleet assets import towers.csv --db f.db",
    )  # fmt: skip
    towers.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="the CSV to write")
    towers.add_argument(
        "--mission", type=Path, default=DEMO_MISSION, metavar="FILE", help="the mission (default: the demo's)"
    )
    towers.set_defaults(func=run_towers)


def run_here(args: argparse.Namespace) -> int:
    from gridscout.control.mission import load_mission
    from gridscout.control.mission_place import place_mission, start_and_bearing
    from gridscout.hardware.vehicle.uri import parse_vehicle_uri

    target = parse_vehicle_uri(args.vehicle)
    if target.driver != "mavlink" or target.simulated:
        raise ValueError(f"--vehicle {args.vehicle!r}: expected mavlink:<pymavlink connection string>")
    template = json.loads(Path(args.like).read_text())
    like = load_mission(args.like)  # MissionError (a ValueError) naming the file

    from gridscout.hardware.mavlink.settings import MavlinkSettings
    from gridscout.hardware.mavlink.whereabouts import WhereaboutsError, read_whereabouts

    settings = MavlinkSettings(baud=target.baud) if target.baud else MavlinkSettings()
    try:
        where = read_whereabouts(target.link, args.timeout, settings)
    except WhereaboutsError as exc:
        raise ValueError(str(exc)) from exc
    heading = where.heading_deg if args.heading is None else args.heading % 360.0
    name = args.name or f"{like.name} @ here"
    moved = place_mission(template, where.lat_deg, where.lon_deg, heading, source=str(args.output), name=name)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(moved, indent=1) + "\n")
    (lat, lon), _ = start_and_bearing(load_mission(args.output))
    print(
        f"{args.output}: {like.name!r} moved to the vehicle ({where.describe}, {where.alt_rel_m:.1f} m above home): "
        f"its {like.path.length_m:.0f} m flight path starts at {lat:.6f}, {lon:.6f} heading {heading:.0f}°, flown "
        f"at {like.altitude_m:g} m above home and {like.cruise_speed_mps:g} m/s"
    )
    print(f"fly it: gridscout run --vehicle {args.vehicle} --mission {args.output}")
    return 0


def run_towers(args: argparse.Namespace) -> int:
    from gridscout.control.mission import load_mission

    mission = load_mission(args.mission)  # MissionError (a ValueError) naming the file
    line = json.loads(Path(args.mission).read_text())["features"]
    route = next(f for f in line if (f.get("geometry") or {}).get("type") == "LineString")["geometry"]["coordinates"]
    rows = ["identifier,name,line id,latitude,longitude,asset type,source system,height"]
    for k, (lon, lat, *_) in enumerate(route, 1):
        rows.append(f"T-{k},Tower {k},{mission.name},{lat:.8f},{lon:.8f},tower,gridscout mission towers,"
                    f"{mission.line_height_m or ''}")  # fmt: skip
    args.output.write_text("\n".join(rows) + "\n")
    print(f"{args.output}: {len(route)} towers along {mission.name!r}; link reports to them with: "
          f"gridscout fleet assets import {args.output} --db FLEET.db")  # fmt: skip
    return 0
