"""`python -m gridscout.hardware.sim.mavlink drone|rover`: the MAVLink simulator on loopback TCP or UDP."""

import sys

from gridscout.hardware.sim.mavlink.server import main

sys.exit(main())
