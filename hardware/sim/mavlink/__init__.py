"""The MAVLink vehicle simulator: an ArduPilot-like drone or rover (`core.py`) served on loopback (`server.py`)."""
