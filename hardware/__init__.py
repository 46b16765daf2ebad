"""Hardware abstraction layer: the only code that touches a device. Imports nothing above it."""
