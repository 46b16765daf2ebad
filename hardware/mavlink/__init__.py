"""MAVLink vehicles (ArduPilot, PX4) on pymavlink: the vehicle driver, its modes and its failsafe checks."""
