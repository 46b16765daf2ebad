"""The fleet side: pull defect reports from devices over flaky links into one SQLite file.

`pull` pages each device's `/v1/reports?since=<seq>` and commits every page with its evidence and
the new checkpoint in one transaction, so an interrupted pull resumes with no gaps or duplicates.
"""

from gridscout.fleet.db import FleetStore
from gridscout.fleet.http import PullError
from gridscout.fleet.pull import DevicePull, PullSummary, pull

__all__ = ["DevicePull", "FleetStore", "PullError", "PullSummary", "pull"]
