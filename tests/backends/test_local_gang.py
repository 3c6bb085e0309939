"""The local backend runs a gang (JobSpec.nodes > 1) as one sandboxed run per rank, all or nothing."""

from __future__ import annotations

import pytest
from cluster_helpers import wait_for

from suanli import backends
from suanli.backends import InvalidJobSpec, JobState


@pytest.fixture
def local(tmp_path):
    backend = backends.create("local", str(tmp_path / "jobs"), None, {"grace_seconds": 1})
    yield backend
    backend.close()


def test_every_rank_runs_with_its_devices_and_the_gang_variables(local, new_spec) -> None:
    spec = new_spec('echo "rank=$RANK node=$NODE_RANK world=$WORLD_SIZE local=$LOCAL_RANK '
                    'master=$MASTER_ADDR:$MASTER_PORT cuda=[$CUDA_VISIBLE_DEVICES]"',
                    accelerators=2, chip="a800", device_indices=(0, 1, 2, 3, 4, 5), nodes=3)
    gang = local.submit(spec)
    assert gang == f"{spec.run_name}.gang3"
    assert local.submit(spec) == gang  # the same attempt again starts nothing new
    status = wait_for(local, gang, JobState.SUCCEEDED, timeout=60)
    assert status.exit_code == 0 and status.detail == "3 ranks succeeded"
    logs = local.logs(gang)
    port = None
    for rank, devices in enumerate(("0,1", "2,3", "4,5")):
        section = logs.split(f"==> rank {rank} <==\n")[1].splitlines()[0]
        head, master = section.split(" master=")
        assert head == f"rank={rank} node={rank} world=3 local=0"
        address, rest = master.split(":")
        assert address == "127.0.0.1"
        rank_port, cuda = rest.split(" ")
        assert cuda == f"cuda=[{devices}]"
        assert port in (None, rank_port)  # every rank is told the same rendezvous
        port = rank_port


def test_a_failing_rank_stops_the_others_and_fails_the_gang(local, new_spec) -> None:
    spec = new_spec('if [ "$RANK" = 1 ]; then exit 7; fi; sleep 300', nodes=3)
    gang = local.submit(spec)
    status = wait_for(local, gang, {JobState.FAILED}, timeout=60)
    assert status.exit_code == 7
    assert status.detail.startswith("rank 1 of 3:") and "the other ranks were stopped" in status.detail
    for rank in (0, 2):  # stopped, not left running
        assert local.status(f"{spec.run_name}.{rank}").state is JobState.CANCELLED


def test_cancelling_a_gang_cancels_every_rank(local, new_spec) -> None:
    spec = new_spec("sleep 300", nodes=2)
    gang = local.submit(spec)
    wait_for(local, gang, JobState.RUNNING, timeout=30)
    local.cancel(gang)
    assert local.status(gang).state is JobState.CANCELLED
    assert all(local.status(f"{spec.run_name}.{r}").state is JobState.CANCELLED for r in (0, 1))


def test_a_gang_needs_devices_for_every_rank(new_spec) -> None:
    with pytest.raises(InvalidJobSpec, match="2 device indices given for 4 accelerators"):
        new_spec("true", accelerators=2, chip="a800", device_indices=(0, 1), nodes=2)
    with pytest.raises(InvalidJobSpec, match="nodes must be >= 1"):
        new_spec("true", nodes=0)
