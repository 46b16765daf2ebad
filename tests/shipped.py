"""The control settings the product ships, from the one place they are defined (the default config).

Tests that need other values start from these and change only what the scenario is about.
"""

from __future__ import annotations

from dataclasses import replace

from gridscout.control.behaviour import BehaviourParams
from gridscout.control.safety import SafetyLimits
from gridscout.edge.config import Config

SHIPPED = Config()


def behaviour_params(**changes: object) -> BehaviourParams:
    return replace(SHIPPED.control.behaviour.params(), **changes)


def safety_limits(vehicle_uri: str = SHIPPED.vehicle.uri, **changes: object) -> SafetyLimits:
    return replace(SHIPPED.control.safety.limits(vehicle_uri), **changes)
