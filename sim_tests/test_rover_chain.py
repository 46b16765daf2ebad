"""The whole chain driving the MAVLink rover simulator: `gridscout run --vehicle sim-rover`.

The simulator reports relative_alt as ArduRover 4.7 did (its altitude above sea level: 299.6 m on the ground
with home at 300 m), which the drones' 120 m ceiling once held for the whole run while the run passed.
"""

from __future__ import annotations

import pytest

from gridscout.control.vehicle import VehicleTelemetry
from sim_tests.chain import Chain


@pytest.mark.slow
def test_a_rover_with_home_300_m_above_sea_level_drives_the_line(tmp_path):
    extra = {"vehicle": {"uri": "sim-rover", "sim_home_alt_m": 300.0}}
    chain = Chain(tmp_path, source="synthetic://demo?frames=80", extra=extra)
    bus = chain.subscribe(["telemetry"])
    positions, alts, ground = [], [], set()
    try:
        assert chain.wait(120) == 0, chain.stderr()[-3000:]
        for r in bus.drain():
            if isinstance(r.msg, VehicleTelemetry) and r.msg.position_m is not None:
                positions.append(r.msg.position_m)
                alts.append(r.msg.alt_rel_m)
                ground.add(r.msg.ground_vehicle)
    finally:
        chain.close()
    summary = chain.summary()
    assert summary["ok"], summary["failures"]
    assert ground == {True} and all(a is None or abs(a) < 1.0 for a in alts), set(alts)
    assert max(positions) - min(positions) > 2.0  # it drove
    assert sum(summary["held"].values()) < 0.5 * summary["control_commands"], summary["held"]
