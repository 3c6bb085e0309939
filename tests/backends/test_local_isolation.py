"""Tenant isolation on the local backend, tried from inside real jobs: a hostile job must not reach the server's
secrets, its database, its processes, another tenant's files or processes, the host's loopback services, or
write outside its own directory; it runs under a uid of its own, within the limits the product promises, and
sees only the devices allocated to it. Every attempt must fail for the right reason (not there, read-only,
refused), which ``sandbox_probe.py`` reports as the errno name."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import wait_for, wait_until

from suanli.backends import JobState, LocalBackend
from suanli.backends.local.supervisor import processes_of
from suanli.db import Database

PROBE = (Path(__file__).parent / "sandbox_probe.py").read_text()
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the local backend's sandbox needs root")


@pytest.fixture
def server_home(tmp_path) -> Path:
    """A SUANLI_HOME as the server keeps it: the secret key, the SQLite database, the jobs' base directory."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    key = home / "secret.key"
    key.write_text("not-really-a-fernet-key\n")
    key.chmod(0o600)
    database = Database(f"sqlite:///{home / 'suanli.db'}")
    with database.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE secrets (v TEXT)")
    database.dispose()
    return home


@pytest.fixture
def local(server_home) -> Iterator[LocalBackend]:
    backend = LocalBackend(server_home / "jobs", grace_seconds=2)
    yield backend
    backend.close()


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP service on the host's loopback, as PostgreSQL, Redis or the suanli API are."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def host_address() -> str | None:
    """This machine's first global IPv4 address (the sandbox's interface gets the same one from pasta)."""
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True)
    for link in json.loads(out.stdout or "[]"):
        for info in link.get("addr_info", []):
            return info["local"]
    return None


def run_probe(local: LocalBackend, new_spec, wanted: dict, **fields) -> tuple[str, dict]:
    job = local.submit(new_spec(f"python3 probe.py '{json.dumps(wanted)}'", files={"probe.py": PROBE}, **fields))
    wait_for(local, job, JobState.SUCCEEDED, timeout=60)
    return job, json.loads(local.logs(job).strip().splitlines()[-1])


def test_a_job_reaches_nothing_of_the_server_or_of_another_tenant(local, server_home, new_spec, listener) -> None:
    other = local.submit(new_spec("echo secret-of-b > mine.txt; sleep 300", env={"B_TOKEN": "b-secret"}))
    wait_for(local, other, JobState.RUNNING)
    other_dir = local.workdir(other)
    wait_until(lambda: (other_dir / "mine.txt").exists(), "the other tenant's file")
    other_pid = processes_of(local.run_uid(other))[-1]
    host_ip = host_address()
    with socket.socket() as wide:  # a host service on every address, reached through the host's own address
        wide.bind(("0.0.0.0", 0))
        wide.listen(4)
        wanted = {
            "read": {"secret_key": str(server_home / "secret.key"), "database": str(server_home / "suanli.db"),
                     "server_environ": f"/proc/{os.getpid()}/environ", "other_file": str(other_dir / "mine.txt"),
                     "other_environ": f"/proc/{other_pid}/environ", "shadow": "/etc/shadow",
                     "host_ssh_key": "/etc/ssh/ssh_host_ed25519_key"},
            "list": {"base_dir": str(local.base_dir), "other_dir": str(other_dir), "sys": "/sys/fs/cgroup"},
            "write": {"etc": "/etc/evil", "usr": "/usr/evil", "root": "/evil",
                      "base_dir_write": str(local.base_dir / "evil"), "home_ok": "/home/user/mine", "tmp_ok": "/tmp/x"},
            "connect": {"postgres": ["127.0.0.1", 5432], "host_service": ["127.0.0.1", listener],
                        **({"host_ip": [host_ip, wide.getsockname()[1]]} if host_ip else {})},
        }
        job, seen = run_probe(local, new_spec, wanted)
    uid = local.run_uid(job)
    assert seen["uid"] == uid == seen["gid"] and uid not in (0, os.getuid())
    assert local.uid_range[0] <= uid <= local.uid_range[1] and seen["groups"] == []  # no supplementary groups
    assert uid != local.run_uid(other)
    not_there = ("secret_key", "database", "server_environ", "other_file", "other_environ", "shadow",
                 "host_ssh_key", "base_dir", "other_dir", "sys")
    assert {name: seen[name] for name in not_there} == dict.fromkeys(not_there, "ENOENT")
    assert (seen["etc"], seen["usr"], seen["root"]) == ("EROFS", "EROFS", "EROFS")
    assert seen["base_dir_write"] == "ENOENT"  # the host's base directory is not there to write into
    assert (seen["home_ok"], seen["tmp_ok"]) == ("ok", "ok")  # its own directory and its private /tmp
    assert seen["postgres"] == seen["host_service"] == "ECONNREFUSED"  # its loopback is its own
    if host_ip:
        assert seen["host_ip"] == "ECONNREFUSED"  # the host's address is the sandbox's own there
    assert not (local.base_dir / "evil").exists() and not Path("/etc/evil").exists()
    assert (local.workdir(job) / "mine").read_text() == "a tenant was here\n"
    local.cancel(other)


def test_the_records_are_out_of_the_tenants_reach(local, new_spec) -> None:
    job = local.submit(new_spec("echo out; sleep 60"))
    wait_for(local, job, JobState.RUNNING)
    run_dir = local.base_dir / job
    uid = local.run_uid(job)
    for path in (local.base_dir, run_dir):
        info = path.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o700)
    for name in ("state.json", "plan.json", "output.log"):
        info = (run_dir / name).stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600), name
    work = local.workdir(job).stat()
    assert (work.st_uid, work.st_gid, stat.S_IMODE(work.st_mode)) == (uid, uid, 0o700)
    local.cancel(job)


def test_a_memory_hog_is_stopped_at_the_limit(local, new_spec) -> None:
    hog = ("import sys\nchunks = []\nfor n in range(1, 65):\n    chunks.append(bytearray(16 * 2**20))\n"
           "    print(n * 16, flush=True)\n")
    job = local.submit(new_spec("python3 hog.py", files={"hog.py": hog}, memory_gib=0.125))
    status = wait_for(local, job, JobState.FAILED, timeout=60)
    assert status.exit_code == 137  # SIGKILLed by the kernel's OOM killer in the run's memory cgroup
    assert "killed by the memory limit of 0.125 GiB" in str(status.detail)
    reached = [int(line) for line in local.logs(job).split() if line.isdigit()]
    assert reached and max(reached) <= 128  # MiB: it never got past the limit


def test_a_fork_bomb_hits_the_process_limit(local, new_spec) -> None:
    bomb = ("import errno, os, time\nn = 0\ntry:\n    while n < 500:\n        if os.fork() == 0:\n"
            "            time.sleep(120)\n            os._exit(0)\n        n += 1\nexcept OSError as exc:\n"
            "    print('fork failed after', n, errno.errorcode[exc.errno], flush=True)\ntime.sleep(120)\n")
    job = local.submit(new_spec("python3 bomb.py", files={"bomb.py": bomb}, max_processes=32))
    wait_until(lambda: "fork failed" in local.logs(job), "the fork bomb to hit the limit", timeout=60)
    words = local.logs(job).split()
    assert words[-1] == "EAGAIN" and int(words[-2]) < 32
    uid = local.run_uid(job)
    assert 20 <= len(processes_of(uid)) <= 32  # the run's processes: never more than max_processes
    local.cancel(job)
    assert processes_of(uid) == []  # cancel ends every one of them


def test_only_the_allocated_devices_are_visible(server_home, new_spec, tmp_path) -> None:
    devices = Path(f"/tmp/suanli-fakegpu-{os.getpid()}")
    devices.mkdir(mode=0o755, exist_ok=True)
    try:
        for name in [f"fakegpu{i}" for i in range(8)] + ["fakectl"]:
            path = devices / name
            if not path.exists():
                os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null: a usable device
            path.chmod(0o666)
        local = LocalBackend(server_home / "jobs", grace_seconds=2,
                             device_paths={"cuda": [f"{devices}/fakegpu{{index}}", f"{devices}/fakectl"]})
        job = local.submit(new_spec(f'ls {devices}; echo data > {devices}/fakegpu5 && echo "written"; '
                                    'echo "cuda=[$CUDA_VISIBLE_DEVICES]"; ls /dev',
                                    accelerators=2, chip="a800", device_indices=(3, 5)))
        wait_for(local, job, JobState.SUCCEEDED)
        lines = local.logs(job).splitlines()
        assert lines[:5] == ["fakectl", "fakegpu3", "fakegpu5", "written", "cuda=[3,5]"]
        assert not any(line.startswith(("vd", "sd", "nvme", "kvm", "net", "fakegpu")) for line in lines[5:])
        cpu = local.submit(new_spec(f"ls {devices} || echo none"))
        wait_for(local, cpu, JobState.SUCCEEDED)
        assert "No such file or directory" in local.logs(cpu)  # no devices: not even the directory
        local.close()
    finally:
        for path in devices.iterdir():
            path.unlink()
        devices.rmdir()


def test_the_network_is_its_own_with_a_route_out(local, new_spec) -> None:
    job = local.submit(new_spec("cat /proc/net/route; cat /proc/net/dev; hostname"))
    wait_for(local, job, JobState.SUCCEEDED)
    out = local.logs(job)
    routes = [line.split() for line in out.splitlines() if line[:1].isalnum() and "Iface" not in line]
    assert any(fields[1] == "00000000" for fields in routes if len(fields) > 2)  # a default route (pasta)
    assert "eth0" in out or any(fields[0] != "lo" for fields in routes)
    assert out.strip().splitlines()[-1].startswith("job-")  # its own host name (UTS namespace)


def test_uids_are_per_run_and_given_back(local, new_spec) -> None:
    jobs = [local.submit(new_spec("sleep 30")) for _ in range(3)]
    for job in jobs:
        wait_for(local, job, JobState.RUNNING)
    uids = [local.run_uid(job) for job in jobs]
    assert len(set(uids)) == 3
    claims = [Path(local.claims.directory / "uids" / str(uid)) for uid in uids]
    assert all(claim.read_text().split("\n")[0] == str(local.base_dir / job) for claim, job in zip(claims, jobs))
    for job in jobs:
        local.cancel(job)
    assert not any(claim.exists() for claim in claims)  # released once the run's processes are gone
    for job in jobs:
        plan = json.loads((local.base_dir / job / "plan.json").read_text())
        assert plan["cgroups"] and not any(Path(path).exists() for path in plan["cgroups"])
