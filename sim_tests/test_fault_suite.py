"""The crawler fault suite (`python -m sim_tests.fault_suite`) as a test: every scenario ends as it should."""

import tempfile
from pathlib import Path

import pytest

from sim_tests.fault_suite import SCENARIOS, run_scenario


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_each_fault_ends_the_run_as_it_should_and_names_the_cause(scenario):
    with tempfile.TemporaryDirectory(prefix="gridscout-fault-") as tmp:
        row = run_scenario(scenario, Path(tmp))
    assert row.as_expected, row.line()
    if scenario.fault_at_s is not None and scenario.expect_exit:
        assert row.to_stop_s is not None and row.to_stop_s < 1.0, row.line()  # stopped within a second
