"""Vehicles: the driver interface every vehicle implements, vehicle URIs, and the driver registry."""
