"""Gang jobs (JobSpec.nodes > 1) on a real two-node Slurm 22.05 (two slurmd on this host, tests/harness/slurm.sh
with N=2): one batch job over both nodes, one rank per node with the gang's variables, all or nothing."""

from __future__ import annotations

import pytest
from cluster_helpers import wait_for

from suanli.backends import JobState
from suanli.backends.slurm import gang_script


@pytest.fixture
def slurm2(slurm_gang_cluster):
    backend = slurm_gang_cluster.backend()
    yield backend
    backend.close()


def test_health_counts_both_nodes(slurm2) -> None:
    assert slurm2.health().detail == "2/2 node(s) usable"


def test_a_gang_runs_one_rank_on_each_node_with_its_gres(slurm2, new_spec) -> None:
    spec = new_spec('echo "rank=$RANK node=$NODE_RANK world=$WORLD_SIZE local=$LOCAL_RANK host=$SLURMD_NODENAME '
                    'master=$MASTER_ADDR cuda=[$CUDA_VISIBLE_DEVICES] input=$(cat input.txt)"',
                    files={"input.txt": "shared"}, accelerators=2, chip="a800", nodes=2, vcpus=1,
                    time_limit_minutes=5)
    job = slurm2.submit(spec)
    status = wait_for(slurm2, job, JobState.SUCCEEDED, timeout=90)
    assert status.exit_code == 0
    lines = sorted(line for line in slurm2.logs(job).splitlines() if line.startswith("rank="))
    assert lines == ["rank=0 node=0 world=2 local=0 host=gang1 master=gang1 cuda=[0,1] input=shared",
                     "rank=1 node=1 world=2 local=0 host=gang2 master=gang1 cuda=[0,1] input=shared"], lines


def test_one_failing_rank_ends_the_whole_gang(slurm2, new_spec) -> None:
    spec = new_spec('if [ "$RANK" = 1 ]; then exit 5; fi; sleep 300', nodes=2, vcpus=1, time_limit_minutes=5)
    job = slurm2.submit(spec)
    status = wait_for(slurm2, job, {JobState.FAILED}, timeout=90)
    assert status.exit_code not in (None, 0)  # srun reports the failed rank and kills the other (kill-on-bad-exit)


def test_a_gang_larger_than_the_cluster_is_refused_at_submit(slurm2, new_spec) -> None:
    from suanli.backends import BackendError

    with pytest.raises(BackendError):
        slurm2.submit(new_spec("true", nodes=3, vcpus=1))


def test_the_gang_script_runs_the_rank_script_on_every_node(new_spec) -> None:
    spec = new_spec("true", nodes=4)
    script = gang_script(spec, "#!/bin/bash\necho hi\n")
    assert "srun --nodes=4 --ntasks=4 --ntasks-per-node=1 --kill-on-bad-exit=1" in script
    assert "WORLD_SIZE=4" in script and 'head -n 1)' in script
