"""A replay gives control the mission the recorded vehicle flew, as the run did (a drone's path, limits, fence)."""

import pytest

from gridscout.edge.defaults import DEMO_MISSION
from gridscout.edge.offline.replay import ReplayError, _flown_mission


def test_a_drone_replays_with_its_mission_and_a_crawler_without():
    flown = _flown_mission({"vehicle": {"uri": "sim-drone"}, "mission": {"file": str(DEMO_MISSION)}})
    assert flown is not None and flown.path.length_m > 0
    assert _flown_mission({"vehicle": {"uri": "sim-crawler"}, "mission": {"file": str(DEMO_MISSION)}}) is None
    assert _flown_mission({"vehicle": {"uri": "sim-drone"}, "mission": {"file": None}}) is None


def test_a_flown_mission_missing_here_is_an_error_naming_it(tmp_path):
    gone = tmp_path / "line.geojson"
    with pytest.raises(ReplayError, match=r"line\.geojson.*not on this machine"):
        _flown_mission({"vehicle": {"uri": "mavlink:tcp:127.0.0.1:5760"}, "mission": {"file": str(gone)}})
