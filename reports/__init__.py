"""What the device and the fleet share about defect reports: the review (verdict, severity, corrected class,
note). Imports nothing of the robot's, so the fleet side installs it alone (`pip install ./fleet`)."""
