"""Vehicle drivers, found by the scheme of the vehicle URI (`crawler:` and `sim-crawler` use the crawler driver).

Each entry names a class with `for_target(target, settings)`; it is imported only when used, so the HAL
loads the code of the vehicle it drives and no other.
"""

from __future__ import annotations

import importlib
from typing import Any

from gridscout.hardware.vehicle.driver import VehicleDriver
from gridscout.hardware.vehicle.uri import VehicleTarget

#: driver name -> "module:Class"
DRIVERS = {"crawler": "gridscout.hardware.crawler.driver:CrawlerDriver"}


def open_driver(target: VehicleTarget, settings: Any) -> VehicleDriver:
    """The driver for `target` with its kind's settings (not connected yet: call `connect()`)."""
    module_name, _, class_name = DRIVERS[target.driver].partition(":")
    driver_class = getattr(importlib.import_module(module_name), class_name)
    return driver_class.for_target(target, settings)
