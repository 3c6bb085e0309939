"""How long a local instance takes to deliver, and what it costs to keep one running.

For each of ``--runs`` instances (``LocalBackend.start_instance`` in a fresh base directory):

- **ssh login**: from ``start_instance`` to the first successful ``ssh user@host -p PORT true`` with the
  buyer's key (the real OpenSSH client, retried every 0.1 s);
- **running**: from ``start_instance`` to ``instance_status`` = running (sshd's banner and JupyterLab's HTTP
  answer on their host ports);
- **memory**: the resident memory (RSS) of every process of the instance once it runs: its sandbox (sshd,
  JupyterLab, the init shell, bubblewrap), pasta, and the supervisor (root, outside the sandbox), by program.

The **baseline**, measured in the same process between the sandboxed runs: the same sshd and JupyterLab
started directly on the host (root, no sandbox, no pasta, no supervisor), timed the same way. The ratio
sandboxed / baseline is the cost of the isolation; absolute times move with the machine's load.

    .venv/bin/python bench/instance_startup.py            # --runs 5 (as root: the sandbox needs it)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from suanli.backends import LocalBackend  # noqa: E402
from suanli.backends.instances import InstanceRunState, InstanceSpec  # noqa: E402
from suanli.backends.local.supervisor import processes_of  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ssh_ok(key: Path, port: int, user: str) -> bool:
    return subprocess.run(["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "ConnectTimeout=2", "-o", "LogLevel=ERROR", "-p", str(port), f"{user}@127.0.0.1",
                           "true"], capture_output=True, timeout=30).returncode == 0


def jupyter_ok(port: int, token: str) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def until(check, timeout: float = 120.0) -> float:
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.1)
    return time.monotonic()


def rss_by_program(pids: list[int]) -> dict[str, int]:
    """KiB of resident memory per program name."""
    out: dict[str, int] = defaultdict(int)
    for pid in pids:
        try:
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = fields["Name"].strip()
        if name.startswith("python") or name.startswith("jupyter"):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            name = "jupyterlab" if b"jupyterlab" in cmdline else "supervisor" if b"supervisor.py" in cmdline else name
        out[name] += int(fields.get("VmRSS", "0 kB").split()[0])
    return dict(out)


def sandboxed(work: Path, key: Path) -> dict:
    backend = LocalBackend(work / "jobs", grace_seconds=2)
    spec = InstanceSpec(instance_id=f"bench-{secrets.token_hex(4)}", image="cpu-python",
                        authorized_keys=(key.with_suffix(".pub").read_text(),),
                        jupyter_token=secrets.token_urlsafe(32), memory_gib=2)
    began = time.monotonic()
    run = backend.start_instance(spec)
    ssh_port = int(json.loads((backend.base_dir / "instances" / run / "plan.json").read_text())["forwards"]["22"])
    ssh_at = until(lambda: ssh_ok(key, ssh_port, "user"))
    running_at = until(lambda: backend.instance_status(run).state is InstanceRunState.RUNNING)
    time.sleep(1)  # let JupyterLab settle after its first answer
    state = json.loads((backend.base_dir / "instances" / run / "state.json").read_text())
    memory = rss_by_program(processes_of(backend.run_uid(run)) + [state["pid"]])
    backend.stop_instance(run)
    backend.close()
    return {"ssh_s": ssh_at - began, "running_s": running_at - began, "rss_kib": memory}


def baseline(work: Path, key: Path) -> dict:
    """The same sshd and JupyterLab, started directly on the host as root."""
    home = work / "baseline"
    home.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "host")], check=True)
    shutil.copy(key.with_suffix(".pub"), home / "authorized_keys")
    ssh_port, jupyter_port, token = free_port(), free_port(), secrets.token_urlsafe(32)
    (home / "sshd_config").write_text(
        f"Port {ssh_port}\nListenAddress 127.0.0.1\nHostKey {home}/host\nPidFile {home}/sshd.pid\n"
        f"AuthorizedKeysFile {home}/authorized_keys\nStrictModes no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nUsePAM no\n")
    (home / "token").write_text(token)
    Path("/run/sshd").mkdir(exist_ok=True)
    began = time.monotonic()
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(home / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    jupyter = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
                                f"--ServerApp.port={jupyter_port}", "--ServerApp.port_retries=0",
                                f"--ServerApp.root_dir={home}"], env={**os.environ, "JUPYTER_TOKEN_FILE":
                                                                      str(home / "token")},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ssh_at = until(lambda: ssh_ok(key, ssh_port, "root"))
        running_at = until(lambda: jupyter_ok(jupyter_port, token))
        time.sleep(1)
        memory = rss_by_program([sshd.pid, jupyter.pid])
    finally:
        for proc in (sshd, jupyter):
            proc.terminate()
            proc.wait(timeout=30)
    shutil.rmtree(home)
    return {"ssh_s": ssh_at - began, "running_s": running_at - began, "rss_kib": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the local backend's sandbox needs it")
    with tempfile.TemporaryDirectory(prefix="suanli-bench-") as tmp:
        work = Path(tmp)
        key = work / "id"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        runs: dict[str, list[dict]] = {"sandboxed": [], "baseline": []}
        for n in range(args.runs):
            runs["sandboxed"].append(sandboxed(work, key))
            runs["baseline"].append(baseline(work, key))
            print(f"run {n + 1}: sandboxed ssh {runs['sandboxed'][-1]['ssh_s']:.2f} s, running "
                  f"{runs['sandboxed'][-1]['running_s']:.2f} s; baseline ssh {runs['baseline'][-1]['ssh_s']:.2f} s, "
                  f"jupyter {runs['baseline'][-1]['running_s']:.2f} s", flush=True)
    load = os.getloadavg()[0]
    print(f"\n{args.runs} runs, load average {load:.1f}\n")
    print("| | sandboxed (median, min–max) | baseline: same programs, no sandbox | ratio |\n|---|---|---|---|")
    for metric, label in (("ssh_s", "start → SSH login"), ("running_s", "start → running (SSH + JupyterLab)")):
        s = [r[metric] for r in runs["sandboxed"]]
        b = [r[metric] for r in runs["baseline"]]
        print(f"| {label} | {statistics.median(s):.2f} s ({min(s):.2f}–{max(s):.2f}) | "
              f"{statistics.median(b):.2f} s ({min(b):.2f}–{max(b):.2f}) | "
              f"{statistics.median(s) / statistics.median(b):.2f}× |")
    programs = sorted({p for r in runs["sandboxed"] for p in r["rss_kib"]})
    totals = [sum(r["rss_kib"].values()) / 1024 for r in runs["sandboxed"]]
    base_totals = [sum(r["rss_kib"].values()) / 1024 for r in runs["baseline"]]
    print(f"| RSS of a running instance | {statistics.median(totals):.0f} MiB | {statistics.median(base_totals):.0f} MiB "
          f"| {statistics.median(totals) / statistics.median(base_totals):.2f}× |")
    print("\nRSS by program (median MiB): " + ", ".join(
        f"{p} {statistics.median(r['rss_kib'].get(p, 0) for r in runs['sandboxed']) / 1024:.1f}" for p in programs))


if __name__ == "__main__":
    main()
