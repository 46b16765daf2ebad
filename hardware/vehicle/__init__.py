"""Vehicles: the driver interface every vehicle implements, vehicle URIs and the driver registry.

- `driver`: `VehicleDriver` (connect, command a speed along the path, hold, stop, service the link) and
  what a driver reports besides telemetry: `LinkState`, `Refusal`, `DriverCounters`.
- `uri`: `parse_vehicle_uri` (`sim-crawler`, `crawler:<link>[?baud=N]`).
- `registry`: `open_driver(target, settings)` by the URI's scheme.

Telemetry, vehicle states and limits are `gridscout.control.vehicle`'s: one type for drivers, bus and control.
"""
