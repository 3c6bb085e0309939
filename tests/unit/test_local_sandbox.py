"""The local backend's pure pieces: device files, the sandbox's /etc and command lines, sshd_config quoting,
ranges and options (no process is started here)."""

from __future__ import annotations

import shlex

import pytest

from suanli import backends
from suanli.backends import BackendError
from suanli.backends.local.claims import parse_range
from suanli.backends.local.instances import sshd_config
from suanli.backends.local.sandbox import (
    ETC_ALLOWLIST,
    bwrap_argv,
    check_device_paths,
    device_files,
    etc_files,
    pasta_argv,
)
from suanli.backends.local.supervisor import STAGE


def test_device_files_per_index_and_the_control_devices() -> None:
    paths = check_device_paths(None)
    assert device_files(paths["cuda"], (3, 5)) == [
        "/dev/nvidia3", "/dev/nvidia5", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
        "/dev/nvidia-modeset"]
    assert device_files(paths["dtk"], (1,)) == ["/dev/dri/card1", "/dev/dri/renderD129", "/dev/kfd"]
    assert device_files(paths["cann"], (0,))[:2] == ["/dev/davinci0", "/dev/davinci_manager"]
    assert device_files(paths["cuda"], ()) == []  # no accelerators: not even the control devices


def test_device_path_option_is_checked() -> None:
    assert check_device_paths({"cuda": ["/tmp/fake/gpu{index}"]})["cuda"] == ("/tmp/fake/gpu{index}",)
    with pytest.raises(BackendError, match="unknown ecosystem 'opencl'"):
        check_device_paths({"opencl": ["/dev/x{index}"]})
    for bad in (["relative{index}"], ["/dev/../etc/shadow"], ["/dev/x{slot}"]):
        with pytest.raises(BackendError, match="must be absolute"):
            check_device_paths({"cuda": bad})
    with pytest.raises(BackendError, match="must be a list"):
        check_device_paths({"cuda": "/dev/nvidia{index}"})


def test_the_generated_etc_names_the_run_uid_user_and_nothing_secret() -> None:
    files = etc_files(200007, "job-x")
    assert "user:x:200007:200007:suanli run:/home/user:/bin/bash" in files["passwd"].splitlines()
    assert files["group"].splitlines()[1] == "user:x:200007:"
    assert files["hostname"] == "job-x\n"
    for secret in ("shadow", "gshadow", "sudoers", "pip.conf", "munge", "ssh/ssh_host_ed25519_key", "machine-id",
                   "passwd", "group"):
        assert secret not in ETC_ALLOWLIST


def test_the_sandbox_command_line() -> None:
    argv = bwrap_argv(200007, "job-x", ["/bin/bash", "/run/suanli/job.sh"], devices=[("dev0", "/dev/nvidia3")],
                      read_only=[("ro0", "/opt/venv")], sshd=True)
    assert argv[:argv.index("--") + 1] == ["setpriv", "--reuid=200007", "--regid=200007", "--clear-groups",
                                          "--inh-caps=-all", "--no-new-privs", "--"]
    text = shlex.join(argv)
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
                 "--disable-userns", "--new-session", "--proc /proc", "--dev /dev", "--tmpfs /tmp",
                 "--remount-ro /", f"--bind {STAGE}/work /home/user", f"--dev-bind {STAGE}/dev0 /dev/nvidia3",
                 f"--ro-bind {STAGE}/ro0 /opt/venv", "--dir /run/sshd", "--ro-bind /usr /usr"):
        assert flag in text, flag
    assert "--die-with-parent" not in argv  # a run outlives a restart of suanli
    assert argv[-3:] == ["--", "/bin/bash", "/run/suanli/job.sh"]
    assert "--unshare-net" not in bwrap_argv(1, "h", ["true"], network=False)


def test_pasta_never_forwards_into_the_host_and_binds_only_what_is_asked() -> None:
    argv = pasta_argv(200007, [("127.0.0.1", 40001, 22), ("127.0.0.1", 40002, 8888)])
    text = " ".join(argv)
    assert "-T none -U none" in text and "--no-map-gw" in text and "-u none" in text
    assert "-t 127.0.0.1/40001:22 -t 127.0.0.1/40002:8888" in text
    assert "-t none" in " ".join(pasta_argv(200007))  # a job exposes nothing (pasta's default would be 'auto')
    assert argv[0] == "setpriv" and "--reuid=200007" in argv  # not root: the run's own uid


def test_sshd_config_quotes_the_environment() -> None:
    config = sshd_config({"A": 'say "hi" \\ there', "SUANLI_IMAGE": "cpu-python"})
    assert 'SetEnv "A=say \\"hi\\" \\\\ there" "SUANLI_IMAGE=cpu-python"' in config.splitlines()
    for line in ("PasswordAuthentication no", "UsePAM no", "AuthorizedKeysFile .ssh/authorized_keys",
                 "AllowUsers user", "PermitRootLogin no"):
        assert line in config.splitlines()


def test_ranges() -> None:
    assert parse_range("200000-200009", "uid_range", 1000, 2**31) == (200000, 200009)
    assert parse_range([40000, 40010], "port_range", 1024, 65535) == (40000, 40010)
    for bad in ("0-100", "40000", "b-a", "50000-40000"):
        with pytest.raises(BackendError, match="port_range"):
            parse_range(bad, "port_range", 1024, 65535)


def test_options_are_checked_when_the_backend_is_made(tmp_path) -> None:
    with pytest.raises(BackendError, match="uid_range 0-10 must lie within"):
        backends.create("local", str(tmp_path), None, {"uid_range": "0-10"})
    with pytest.raises(BackendError, match="unknown ecosystem"):
        backends.create("local", str(tmp_path), None, {"device_paths": {"gpu": ["/dev/x"]}})
    made = backends.create("local", str(tmp_path), None, {"port_range": "41000-41010", "public_host": "gpu.example.cn"})
    assert made.port_range == (41000, 41010) and made.public_host == "gpu.example.cn"
