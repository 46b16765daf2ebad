"""A random stretch of line: towers, insulator strings (with defects), conductors and nests."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gridscout.hardware.sim.scene.draw_insulator import MATERIALS, InsulatorString, StringSpec, build_string
from gridscout.hardware.sim.scene.structures import (
    Nest,
    Segments,
    Tower,
    TowerDesign,
    build_tower,
    catenary,
    make_nest,
    random_design,
    wire_segments,
)

# how often each material is the line's main one
MATERIAL_WEIGHTS = {
    "porcelain_brown": 0.22,
    "porcelain_mauve": 0.2,
    "glass": 0.17,
    "glass_dark": 0.1,
    "porcelain_white": 0.08,
    "porcelain_grey": 0.05,
    "composite_red": 0.11,
    "composite_grey": 0.07,
}


@dataclass
class Phase:
    """One conductor position (crossarm level and side) and its wire, as a polyline along the line."""

    level: int
    side: int
    path: np.ndarray  # (N, 3) points in increasing X, through every attachment


@dataclass
class Layout:
    """Everything that stands in one scene."""

    design: TowerDesign
    span: float
    towers: list[Tower]
    strings: list[InsulatorString]
    string_tower: list[int]  # tower index per string
    wires: list[tuple[Segments, np.ndarray]]  # (segments, centre) chunks for depth sorting
    phases: list[Phase]
    nests: list[Nest] = field(default_factory=list)
    sun: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys])
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def build_layout(
    rng: np.random.Generator,
    x_range: tuple[float, float],
    defect_types: tuple[str, ...],
    defect_rate: float,
    tension_share: float | None = None,
) -> Layout:
    """Towers covering x_range (m along the line) plus their strings, wires and defects."""
    sun_az, sun_el = rng.uniform(0, 2 * np.pi), rng.uniform(0.4, 1.2)
    sun = np.array([np.cos(sun_el) * np.cos(sun_az), np.cos(sun_el) * np.sin(sun_az), np.sin(sun_el)])
    design = random_design(rng)
    span = float(rng.uniform(48, 78))
    tension_share = float(rng.uniform(0.35, 0.75)) if tension_share is None else tension_share
    k0 = int(np.floor(x_range[0] / span)) - 1
    k1 = int(np.ceil(x_range[1] / span)) + 1
    phase0 = rng.uniform(0, span)
    towers = [
        build_tower(rng, design, k * span + phase0, bool(rng.random() < tension_share), sun) for k in range(k0, k1 + 1)
    ]
    main_mat = _pick(rng, MATERIAL_WEIGHTS)
    v_strings = rng.random() < 0.25
    double_share = rng.uniform(0.3, 0.8)
    radius = rng.uniform(0.125, 0.165)
    pitch = radius * rng.uniform(1.08, 1.25)
    n_base = int(rng.integers(18, 34))
    strings: list[InsulatorString] = []
    string_tower: list[int] = []
    attach: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}  # (tower, level, side) -> back, front

    def make_spec(start: np.ndarray, axis: np.ndarray, offsets: tuple, n: int, mat: str) -> StringSpec:
        kind = MATERIALS[mat].kind
        if kind == "composite":
            length = n * pitch
            r, p = rng.uniform(0.055, 0.085), rng.uniform(0.045, 0.065)
            nd = int(length / p)
        else:
            r, p, nd = radius, pitch, n
        missing, broken = [], []
        if kind == "disc" and "missing_cap" in defect_types and rng.random() < defect_rate:
            missing.append((int(rng.integers(len(offsets))), int(rng.integers(1, nd - 2))))
            if rng.random() < 0.12:
                missing.append((int(rng.integers(len(offsets))), int(rng.integers(1, nd - 2))))
        if kind == "disc" and "broken_disc" in defect_types and rng.random() < defect_rate * 0.6:
            cand = (int(rng.integers(len(offsets))), int(rng.integers(1, nd - 2)))
            if all(abs(cand[1] - m[1]) > 1 or cand[0] != m[0] for m in missing):
                broken.append(cand)
        tint = tuple(rng.uniform(0.9, 1.1, 3) * rng.uniform(0.85, 1.12))
        return StringSpec(
            start=tuple(start),
            axis=tuple(axis / np.linalg.norm(axis)),
            material=mat,
            n_discs=nd,
            pitch=p,
            radius=r,
            offsets=offsets,
            missing=tuple(sorted(set(missing))),
            broken=tuple(broken),
            lead=rng.uniform(0.15, 0.35),
            tail=rng.uniform(0.2, 0.4),
            ring=bool(rng.random() < 0.3),
            tint=tint,
        )

    def add(spec: StringSpec, ti: int) -> InsulatorString:
        s = build_string(spec, sun)
        strings.append(s)
        string_tower.append(ti)
        return s

    for ti, tw in enumerate(towers):
        for level, side, tip in tw.tips:
            mat = main_mat if rng.random() > 0.15 else _pick(rng, MATERIAL_WEIGHTS)
            n = n_base + int(rng.integers(-1, 2))
            double = rng.random() < double_share
            if tw.tension:
                ends = []
                for direction in (-1, 1):
                    dip = rng.uniform(0.03, 0.2)
                    axis = np.array([direction * np.cos(dip), 0.0, -np.sin(dip)])
                    start = tip + np.array([direction * 0.35, 0.0, -0.1])
                    if double:
                        g = rng.uniform(0.19, 0.25)
                        offs = ((0.0, -g, 0.0), (0.0, g, 0.0)) if rng.random() < 0.7 else ((0, 0, g), (0, 0, -g))
                    else:
                        offs = ((0.0, 0.0, 0.0),)
                    spec = make_spec(start, axis, offs, n + 2, mat)
                    add(spec, ti)
                    ends.append(start + np.asarray(spec.axis) * spec.length + np.mean(np.asarray(offs, float), 0))
                attach[(ti, level, side)] = (ends[0], ends[1])
            elif v_strings:
                tilt = rng.uniform(0.35, 0.6)
                length = n * pitch + 0.5
                apex = tip + np.array([0.0, 0.0, -length * np.cos(tilt)])
                for sgn in (-1, 1):
                    start = apex + np.array([0.0, sgn * length * np.sin(tilt), length * np.cos(tilt)])
                    add(make_spec(start, apex - start, ((0.0, 0.0, 0.0),), n, mat), ti)
                attach[(ti, level, side)] = (apex, apex)
            else:
                offs = ((-0.22, 0.0, 0.0), (0.22, 0.0, 0.0)) if double else ((0.0, 0.0, 0.0),)
                lean = rng.normal(0, 0.03)  # wind / uneven spans swing the string a little
                axis = np.array([np.sin(lean), 0.0, -np.cos(lean)])
                spec = make_spec(tip + np.array([0, 0, -0.05]), axis, offs, n, mat)
                add(spec, ti)
                end = tip + axis * spec.length
                attach[(ti, level, side)] = (end, end)
    # conductors: span by span, with jumpers round tension towers; drawn in chunks along X so that
    # the painter's order can put near wire in front of far towers
    chunks: dict[tuple[int, int], list[np.ndarray]] = {}
    earth: dict[tuple[int, int], list[np.ndarray]] = {}
    phases: list[Phase] = []
    cond_col = np.array([1.0, 1.0, 1.02]) * rng.uniform(80, 140)
    offs = [0.0] if rng.random() < 0.55 else [-0.2, 0.2]  # single or twin bundle

    def put(store: dict, key: tuple[int, int], pl: np.ndarray) -> None:
        store.setdefault(key, []).extend(pl + np.array([0.0, o, 0.0]) for o in offs)

    for level in range(len(design.arm_z)):
        for side in (1, -1):
            path_pts = []
            for ti in range(len(towers)):
                back, front = attach[(ti, level, side)]
                if towers[ti].tension:
                    jumper = catenary(back, front, rng.uniform(1.0, 2.0), 10)
                    put(chunks, (ti, -1), jumper)
                    path_pts.append(jumper)
                else:
                    path_pts.append(np.array([back]))
                if ti + 1 < len(towers):
                    nb, _ = attach[(ti + 1, level, side)]
                    span_pts = catenary(front, nb, span * rng.uniform(0.02, 0.035), 25)
                    for c in range(4):
                        put(chunks, (ti, c), span_pts[c * 6 : c * 6 + 7])
                    path_pts.append(span_pts[1:-1])
            phases.append(Phase(level, side, np.concatenate(path_pts)))
    for ti in range(len(towers) - 1):  # earth wire
        ew = catenary(towers[ti].peak, towers[ti + 1].peak, span * 0.02, 25)
        for c in range(4):
            earth.setdefault((ti, c), []).append(ew[c * 6 : c * 6 + 7])
    wires: list[tuple[Segments, np.ndarray]] = []
    for key, pls in chunks.items():
        seg = wire_segments(pls + earth.get(key, []), 0.014, cond_col)
        seg.radius[len(seg.radius) - sum(len(p) - 1 for p in earth.get(key, [])) :] = 0.006
        wires.append((seg, 0.5 * (seg.a.min(0) + seg.a.max(0))))
    nests = []
    if "bird_nest" in defect_types:
        for tw in towers:
            if rng.random() < max(0.3, defect_rate):
                nests.append(make_nest(rng, tw.nest_spots[int(rng.integers(len(tw.nest_spots)))]))
    return Layout(design, span, towers, strings, string_tower, wires, phases, nests, sun)
