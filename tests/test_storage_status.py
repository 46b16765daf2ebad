"""`storage_status`: what the reporter says on the bus about the data disk and the report store."""

from __future__ import annotations

import shutil

from gridscout.edge.daemons.reporterd import storage_status


def _stats(errors: int = 0, pending: int = 0) -> dict[str, float]:
    return {"store_errors": float(errors), "store_pending": float(pending)}


def test_a_disk_with_room_is_ok(tmp_path):
    status = storage_status(tmp_path, 0.0, _stats(), "", 5)
    assert (status.state, status.detail, status.store_pending) == ("ok", "", 0)
    assert status.free_mb > 0 and status.data_dir == str(tmp_path) and status.t_mono_ns == 5


def test_under_the_reserve_is_low_and_names_the_setting(tmp_path):
    free_mb = shutil.disk_usage(tmp_path).free / 2**20
    status = storage_status(tmp_path, free_mb * 2 + 1, _stats(), "", 0)
    assert status.state == "low"
    assert "recorder.reserve_mb" in status.detail and "recording stops" in status.detail


def test_writes_waiting_is_full_and_gives_the_stores_own_error(tmp_path):
    status = storage_status(tmp_path, 0.0, _stats(errors=7, pending=3), "OperationalError: database or disk is full", 0)
    assert status.state == "full" and (status.store_errors, status.store_pending) == (7, 3)
    assert "3 waiting" in status.detail and "database or disk is full" in status.detail


def test_a_data_dir_that_is_gone_does_not_raise(tmp_path):
    status = storage_status(tmp_path / "gone", 200.0, _stats(), "", 0)
    assert status.state == "ok" and status.free_mb == -1.0
