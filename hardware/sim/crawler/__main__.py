"""`python -m gridscout.hardware.sim.crawler`: the crawler simulator on a pty or ZeroMQ socket."""

import sys

from gridscout.hardware.sim.crawler.server import main

sys.exit(main())
