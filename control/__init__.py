"""Control: behaviours (patrol, slow, hold for a close look) and the safety gate every command passes.

Each 20 Hz tick: `Patrol.update` turns perception and telemetry into an `Intent`; `SafetyGate.step` turns the
intent's command into what may be sent (or STOP on stale, lost or bad input). Pure standard-library Python,
with every time passed in, so runs are deterministic and replayable. Perception never imports this package.
`vehicle` is the vocabulary every vehicle driver speaks (telemetry, states, limits); `geodesy` (a WGS84 local
frame) and `mission` (the line a drone or rover flies, and the guidance along it) are pure too. The HAL uses all three.
"""

from gridscout.control.behaviour import BehaviourParams, Patrol
from gridscout.control.geodesy import LocalFrame
from gridscout.control.mission import Mission, MissionError, Path2D, load_mission, velocity_setpoint
from gridscout.control.safety import GateDecision, HaltAction, SafetyGate, SafetyLimits
from gridscout.control.types import (
    Intent,
    Mode,
    PerceptionInput,
    SpeedCommand,
    TrackObservation,
    Transition,
)
from gridscout.control.vehicle import VehicleLimits, VehicleState, VehicleTelemetry

__all__ = [
    "BehaviourParams",
    "GateDecision",
    "HaltAction",
    "Intent",
    "LocalFrame",
    "Mission",
    "MissionError",
    "Mode",
    "Path2D",
    "Patrol",
    "PerceptionInput",
    "SafetyGate",
    "SafetyLimits",
    "SpeedCommand",
    "TrackObservation",
    "Transition",
    "VehicleLimits",
    "VehicleState",
    "VehicleTelemetry",
    "load_mission",
    "velocity_setpoint",
]
