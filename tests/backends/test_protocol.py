"""The protocol's values, the registry, capabilities and the job script: no cluster needed."""

from __future__ import annotations

import subprocess

import pytest

from suanli import backends
from suanli.backends import (
    FEATURES,
    Backend,
    BackendError,
    Capabilities,
    InvalidJobSpec,
    JobSpec,
    JobState,
    LocalBackend,
    RayBackend,
    SlurmBackend,
)
from suanli.backends.base import render_job_script, tail_lines

SECRET = "eyJhbGciOiJIUzI1NiJ9.very-secret-token"


def test_registry_knows_the_built_in_kinds() -> None:
    assert {"local", "slurm", "ray"} <= set(backends.kinds())


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(BackendError, match=r"unknown backend kind 'kubernetes'; known kinds: local, ray, slurm"):
        backends.create("kubernetes", "https://k8s:6443")


def test_unknown_option_lists_the_valid_ones(tmp_path) -> None:
    with pytest.raises(BackendError, match=r"unknown option\(s\) shared for the slurm backend; valid options: "
                                           r"gres_name, gres_types, instance_port_range, instance_sandbox, "
                                           r"instance_start_timeout, jupyter_command, partition, path, remote_dir, "
                                           r"shared_dir, timeout"):
        backends.create("slurm", "http://127.0.0.1:1", {"user": "u", "token": "t"}, {"shared": "/x"})
    with pytest.raises(BackendError, match="valid options: cgroup_parent, claims_dir, device_paths, grace_seconds, jupyter_python, "
                                           "listen_address, port_range, public_host, uid_range"):
        backends.create("local", str(tmp_path), None, {"nope": 1})


def test_credentials_are_checked() -> None:
    with pytest.raises(BackendError, match="slurm credentials need 'token'"):
        backends.create("slurm", "http://127.0.0.1:1", {"user": "u"})
    with pytest.raises(BackendError, match="unknown slurm credential field"):
        backends.create("slurm", "http://127.0.0.1:1", {"user": "u", "token": "t", "password": "p"})
    with pytest.raises(BackendError, match="takes no credentials"):
        backends.create("local", "/tmp/x", {"token": "t"})


def test_credentials_never_appear_in_repr_or_str(tmp_path) -> None:
    slurm = backends.create("slurm", "http://127.0.0.1:1", {"user": "suanli", "token": SECRET})
    ray = backends.create("ray", "http://127.0.0.1:2", {"token": SECRET})
    try:
        for backend in (slurm, ray):
            assert SECRET not in repr(backend) and SECRET not in str(backend)
            assert SECRET not in repr(vars(backend))
        assert repr(slurm) == "SlurmBackend(endpoint='http://127.0.0.1:1', user='suanli')"
        # ... nor in the errors an unreachable cluster raises
        with pytest.raises(BackendError) as info:
            slurm.status("1")
        assert SECRET not in str(info.value)
    finally:
        slurm.close()
        ray.close()


def test_register_a_new_kind(tmp_path) -> None:
    backends.register("test-fake", lambda endpoint, creds, options: LocalBackend(endpoint))
    try:
        backend = backends.create("test-fake", str(tmp_path))
        assert isinstance(backend, Backend)
        assert "test-fake" in backends.kinds()
    finally:
        backends.base._REGISTRY.pop("test-fake")


def test_every_backend_is_a_backend(tmp_path) -> None:
    for backend in (LocalBackend(tmp_path), SlurmBackend("http://x", user="u", token="t"), RayBackend("http://x")):
        assert isinstance(backend, Backend)
        caps = backend.capabilities()
        assert caps.kind == backend.kind
        assert set(caps.supported) | set(caps.unsupported) == set(FEATURES)
        assert all(reason.strip() for reason in caps.unsupported.values())  # each "no" says why
        backend.close()


def test_capabilities_answer_and_explain() -> None:
    caps = Capabilities("x", {"fractional_gpus": "whole chips only"})
    assert caps.supports("cancel") and not caps.supports("fractional_gpus")
    assert caps.reason("fractional_gpus") == "whole chips only" and caps.reason("cancel") is None
    with pytest.raises(BackendError, match="the x backend does not support fractional_gpus: whole chips only"):
        caps.require("fractional_gpus")
    with pytest.raises(KeyError, match="unknown feature"):
        caps.supports("teleport")
    with pytest.raises(ValueError, match="unknown features"):
        Capabilities("x", {"teleport": "no"})


def test_slurm_logs_need_a_shared_dir() -> None:
    without = SlurmBackend("http://x", user="u", token="t")
    with_dir = SlurmBackend("http://x", user="u", token="t", shared_dir="/shared")
    assert not without.capabilities().supports("logs")
    assert "no endpoint for a job's output" in without.capabilities().reason("logs")
    assert with_dir.capabilities().supports("logs")
    with pytest.raises(BackendError, match="does not support logs"):
        without.logs("1")


@pytest.mark.parametrize(("fields", "message"), [
    ({"command": "a", "script": "b"}, "exactly one of command"),
    ({}, "exactly one of command"),
    ({"command": "  "}, "empty"),
    ({"command": "x", "env": {"1BAD": "x"}}, "not valid"),
    ({"command": "x", "files": {"../escape": "x"}}, "relative path"),
    ({"command": "x", "files": {"/etc/passwd": "x"}}, "relative path"),
    ({"command": "x", "files": {".suanli/job.sh": "x"}}, "backend's"),
    ({"command": "x", "accelerators": 2, "device_indices": (0,)}, "1 device indices given for 2"),
    ({"command": "x", "accelerators": 2, "device_indices": (1, 1)}, "distinct"),
    ({"command": "x", "ecosystem": "opencl"}, "unknown ecosystem"),
    ({"command": "x", "chip": "no-such-chip"}, "unknown chip"),
    ({"command": "x", "time_limit_minutes": 0}, "time_limit_minutes"),
])
def test_invalid_specs_are_refused(fields, message) -> None:
    with pytest.raises(InvalidJobSpec, match=message):
        JobSpec(job_id="j1", name="n", **fields)


def test_bad_job_ids_are_refused() -> None:
    with pytest.raises(InvalidJobSpec, match="job_id"):
        JobSpec(job_id="../../etc", name="n", command="x")


def test_ecosystem_follows_the_chip() -> None:
    assert JobSpec(job_id="j", name="n", command="x").visible_devices_var == "CUDA_VISIBLE_DEVICES"
    assert JobSpec(job_id="j", name="n", command="x", chip="ascend-910b").visible_devices_var \
        == "ASCEND_RT_VISIBLE_DEVICES"
    assert JobSpec(job_id="j", name="n", command="x", chip="hygon-dcu-z100").visible_devices_var \
        == "HIP_VISIBLE_DEVICES"
    assert JobSpec(job_id="j", name="n", command="x", chip="mlu370-x8").visible_devices_var == "MLU_VISIBLE_DEVICES"
    assert JobSpec(job_id="j", name="n", command="x", chip="kunlunxin-r200").visible_devices_var \
        == "XPU_VISIBLE_DEVICES"
    assert JobSpec(job_id="j", name="n", command="x", chip="a800", ecosystem="cann").ecosystem == "cann"


def test_job_state_terminality() -> None:
    assert {s for s in JobState if s.terminal} == {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED,
                                                   JobState.LOST}


def test_tail_lines() -> None:
    assert tail_lines("a\nb\nc\n", 2) == "b\nc\n"
    assert tail_lines("a\nb\nc", None) == "a\nb\nc"
    assert tail_lines("a\n", 0) == ""


def test_the_embedded_job_script_recreates_files_and_derives_the_device_variable(tmp_path) -> None:
    spec = JobSpec(job_id="j", name="n", chip="ascend-910b", accelerators=2,
                   files={"data/in.txt": "héllo\n$HOME `x`\n", "run.py": "print('hi')\n"},
                   command='cat data/in.txt; echo "npu=$ASCEND_RT_VISIBLE_DEVICES"; pwd')
    script = render_job_script(spec, workdir=str(tmp_path / "w"), embed_files=True,
                               derive_visible_from="CUDA_VISIBLE_DEVICES")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": "4,5"}, check=True).stdout
    assert out == f"héllo\n$HOME `x`\nnpu=4,5\n{tmp_path / 'w'}\n"
    assert (tmp_path / "w" / "run.py").read_text() == "print('hi')\n"


def test_a_script_runs_by_its_shebang(tmp_path) -> None:
    spec = JobSpec(job_id="j", name="n", script="#!/usr/bin/env python3\nimport sys\nsys.exit(7)\n")
    script = render_job_script(spec, workdir=str(tmp_path), embed_files=True)
    assert subprocess.run(["bash", "-c", script]).returncode == 7
