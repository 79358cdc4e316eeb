"""Fault injection at run level (benchmarks/faults.py): no corrupt store, no silent gap."""

from __future__ import annotations

import pytest

from benchmarks.faults import fault_suite


@pytest.mark.slow
def test_runs_survive_every_kind_of_fault() -> None:
    results = fault_suite(rate=0.25, duration="6h")
    transport, everything, death = results["transport"], results["all"], results["server_death"]
    # transport faults are retried invisibly: the same event log as the clean run
    assert transport["exit"] == 0 and transport["identical_to_clean"]
    assert sum(transport["faults"].values()) > 5 and transport["summary"]["retries"] >= sum(
        transport["faults"].values()
    )
    # with garbage replies too: re-asked or recorded, never a gap
    assert everything["exit"] == 0 and everything["faults"].get("garbage", 0) > 0
    assert everything["summary"]["malformed_replies"] >= everything["faults"]["garbage"]
    for result in (transport, everything, death):
        assert result["store_ok"] and result["windows_contiguous"] and result["seq_contiguous"]
        assert result["actor_events"] >= result["activations"]  # every activation has its event
    # the server dies mid-run: a clear message, a resumable store, the clean log after resume
    assert death["exit"] == 1 and "server looks down" in death["message"]
    assert death["resume_exit"] == 0 and death["identical_to_clean"]
