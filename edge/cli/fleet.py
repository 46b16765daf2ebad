"""`gridscout fleet`: the fleet side's own command (`gridscout.fleet.cli`), offered here too."""

from gridscout.fleet.cli import register

__all__ = ["register"]
