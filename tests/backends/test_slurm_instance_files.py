"""What suanli reads back from an instance's run directory on Slurm: the directory belongs to the job user (and,
without a sandbox, to whoever logs into the instance), so suanli reads it as something a tenant may have changed.
No cluster needed."""

from __future__ import annotations

import json
import os

import pytest

from suanli.backends import BackendError
from suanli.backends.slurm_instances import _parse_access, _read_run_file, _Unreadable, parse_port_range


@pytest.fixture
def run(tmp_path):
    control = tmp_path / "inst" / ".suanli"
    control.mkdir(parents=True)
    return tmp_path, control


def test_a_plain_file_is_read_and_a_missing_one_is_none(run) -> None:
    root, control = run
    (control / "access.json").write_text("{}")
    assert _read_run_file(root, ("inst", ".suanli", "access.json"), 100) == b"{}"
    assert _read_run_file(root, ("inst", ".suanli", "nothing.json"), 100) is None


@pytest.mark.parametrize("plant", ["file_symlink", "dir_symlink", "fifo", "too_big"])
def test_symlinks_fifos_and_big_files_are_refused(run, tmp_path_factory, plant) -> None:
    root, control = run
    secret = tmp_path_factory.mktemp("elsewhere") / "secret"
    secret.write_text('{"version": 1}')
    if plant == "file_symlink":
        (control / "access.json").symlink_to(secret)
    elif plant == "dir_symlink":  # the whole control directory replaced by a link
        os.rename(control, root / "inst" / "old")
        (root / "inst" / ".suanli").symlink_to(secret.parent)
        (secret.parent / "access.json").write_text("{}")
    elif plant == "fifo":  # would block a reader forever
        os.mkfifo(control / "access.json")
    else:
        (control / "access.json").write_text(" " * 101)
    with pytest.raises(_Unreadable):
        _read_run_file(root, ("inst", ".suanli", "access.json"), 100)


def test_an_unreadable_directory_says_how_suanli_must_run(run) -> None:
    root, control = run
    control.chmod(0o700)
    as_root = os.geteuid() == 0
    if as_root:
        os.seteuid(65534)  # nobody: a suanli that is neither root nor the job user (the saved uid stays root)
    else:
        control.chmod(0)
    try:
        with pytest.raises(BackendError, match="as root or as the cluster's job user"):
            _read_run_file(root, ("inst", ".suanli", "access.json"), 100)
    finally:
        if as_root:
            os.seteuid(0)
        control.chmod(0o700)


def test_access_files_are_parsed_strictly() -> None:
    good = {"version": 1, "ssh_port": 20001, "jupyter_port": 20002, "sandbox": "bwrap", "ports": {"8080": 20003}}
    assert _parse_access(json.dumps(good).encode()) == (20001, 20002, {8080: 20003})
    for bad in [b"not json", b"[]", {**good, "version": 2}, {**good, "ssh_port": "22"}, {**good, "ssh_port": True},
                {**good, "jupyter_port": 70000}, {**good, "ports": {"x": 1}}, {**good, "ports": {"8080": 0}},
                {**good, "ports": [8080]}, {**good, "ports": {str(p): p for p in range(20000, 20020)}}]:
        data = bad if isinstance(bad, bytes) else json.dumps(bad).encode()
        with pytest.raises(_Unreadable):
            _parse_access(data)


def test_port_ranges() -> None:
    assert parse_port_range("20000-32767") == (20000, 32767)
    assert parse_port_range(" 40000 - 40100 ") == (40000, 40100)
    for bad in ["80-90", "20000-20010", "30000-20000", "20000-70000", "20000", "a-b"]:
        with pytest.raises(BackendError, match="LOW-HIGH"):
            parse_port_range(bad)
