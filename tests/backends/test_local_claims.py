"""Claims on machine-wide resources (uids, host ports): race-free across processes, restart-safe, and taken
back only from runs that are over and left nothing behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from suanli.backends import BackendError
from suanli.backends.local.claims import Claims
from suanli.backends.local.supervisor import boot_id, proc_stat, processes_of

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="running a process as another uid needs root")
FIRST = 299_900  # the top of the default range: clear of the runs other tests start


def _claims(tmp_path: Path, uids: tuple[int, int] = (FIRST, FIRST + 9)) -> Claims:
    return Claims(tmp_path / "claims", uids, (44_900, 44_999), "127.0.0.1")


def _claim_in_another_process(directory: str, owner: str) -> int:
    Path(owner).mkdir()  # a run being set up: its directory exists, its supervisor not yet
    return Claims(Path(directory), (FIRST, FIRST + 9), (44_900, 44_999), "127.0.0.1").claim_uid(Path(owner))[0]


def test_concurrent_claims_from_several_processes_get_distinct_uids(tmp_path) -> None:
    with ProcessPoolExecutor(4) as pool:
        uids = list(pool.map(_claim_in_another_process, [str(tmp_path / "claims")] * 8,
                             [str(tmp_path / f"run{n}") for n in range(8)]))
    assert sorted(uids) == list(range(FIRST, FIRST + 8))
    holders = {(tmp_path / "claims" / "uids" / str(uid)).read_text().split("\n")[0] for uid in uids}
    assert holders == {str(tmp_path / f"run{n}") for n in range(8)}


def test_a_claim_of_a_run_that_is_over_is_taken_back(tmp_path) -> None:
    claims = _claims(tmp_path, (FIRST, FIRST))
    gone = tmp_path / "gone"  # its run directory was removed: nothing holds the uid any more (never made here)
    claims.claim_uid(gone)
    assert claims.claim_uid(tmp_path / "new") == (FIRST, str(tmp_path / "claims" / "uids" / str(FIRST)))


def test_a_claim_of_a_live_run_is_kept(tmp_path) -> None:
    claims = _claims(tmp_path, (FIRST, FIRST))
    live = tmp_path / "live"
    live.mkdir()
    (live / "state.json").write_text(json.dumps({"pid": os.getpid(), "start_ticks": proc_stat(os.getpid())[1],
                                                 "boot_id": boot_id()}))
    claims.claim_uid(live)
    with pytest.raises(BackendError, match="every uid of .* is in use"):
        claims.claim_uid(tmp_path / "new")


def test_a_uid_that_still_has_processes_is_skipped(tmp_path) -> None:
    stray = subprocess.Popen(["setpriv", f"--reuid={FIRST}", f"--regid={FIRST}", "--clear-groups", "sleep", "30"])
    try:
        deadline = time.monotonic() + 10  # Popen returns before setpriv has changed its uid: wait until it has
        while stray.pid not in processes_of(FIRST):
            assert time.monotonic() < deadline, "the stray never ran as its uid"
            time.sleep(0.01)
        assert _claims(tmp_path).claim_uid(tmp_path / "run")[0] == FIRST + 1
    finally:
        stray.kill()
        stray.wait()


def test_ports_that_are_bound_or_claimed_are_skipped(tmp_path) -> None:
    claims = Claims(tmp_path / "claims", (FIRST, FIRST), (44_990, 44_999), "127.0.0.1")
    for name in "abc":
        (tmp_path / name).mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 44_990))
        busy.listen(1)
        first = [port for port, _ in claims.claim_ports(tmp_path / "a", 2)]
        second = [port for port, _ in claims.claim_ports(tmp_path / "b", 2)]
    assert 44_990 not in first + second and len(set(first + second)) == 4
    with pytest.raises(BackendError, match="fewer than 9 free ports"):
        claims.claim_ports(tmp_path / "c", 9)
    assert len(list((tmp_path / "claims" / "ports").iterdir())) == 4  # the failed claim took nothing
