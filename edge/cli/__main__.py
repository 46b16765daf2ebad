"""`python -m gridscout.edge.cli` is the `gridscout` command."""

import sys

from gridscout.edge.cli import main

sys.exit(main())
