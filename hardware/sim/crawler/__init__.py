"""The simulated line crawler: the protocol core (`core`) and its pty / ZeroMQ server (`server`)."""
