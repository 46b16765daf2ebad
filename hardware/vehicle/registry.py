"""Vehicle drivers, found by the scheme of the vehicle URI (`crawler:` and `sim-crawler` use the crawler driver;
`mavlink:`, `sim-drone` and `sim-rover` the MAVLink driver).

Each entry names a class with `for_target(target, settings, mission)`; it is imported only when used, so the
HAL loads the code of the vehicle it drives and no other (pymavlink only for a MAVLink vehicle).
"""

from __future__ import annotations

import importlib
from typing import Any

from gridscout.hardware.vehicle.driver import VehicleDriver
from gridscout.hardware.vehicle.uri import VehicleTarget

#: driver name -> "module:Class"
DRIVERS = {
    "crawler": "gridscout.hardware.crawler.driver:CrawlerDriver",
    "mavlink": "gridscout.hardware.mavlink.driver:MavlinkDriver",
}


def open_driver(target: VehicleTarget, settings: Any, mission: Any = None) -> VehicleDriver:
    """The driver for `target` with its kind's settings and the mission to fly (not connected yet: call
    `connect()`). A driver that needs a mission and is given none raises ValueError naming the URI."""
    module_name, _, class_name = DRIVERS[target.driver].partition(":")
    driver_class = getattr(importlib.import_module(module_name), class_name)
    return driver_class.for_target(target, settings, mission)
