"""From an order to a working SSH login, through the whole platform, on the demo's sandboxed local backend.

A fresh demo (`suanli demo --no-serve --no-job` in a temporary SUANLI_HOME) is served by a real `suanli serve`
(its instance loop at the default interval, kicked by each order). For each of ``--runs`` leases:

- **order → SSH login**: from ``POST /api/v1/orders`` (the demo buyer, the cheapest container product, the
  ``cpu-python`` image) to the first successful ``ssh user@host -p PORT true`` with the demo buyer's key (the real
  OpenSSH client, retried every 0.1 s), the address read from ``GET /api/v1/orders/{id}/instances``;
- **order → running**: until the platform shows the instance running (SSH and JupyterLab answered) and the
  order active (billing from then);
- **release → stopped**: from ``POST /orders/{id}/release`` until the platform shows the instance stopped.

Then ``--hold`` leases are kept running at once to measure the **server's memory per running instance**: the RSS of
the `suanli serve` process (API, meter, scheduler and instance loop) with none running and with ``--hold``
running, after the loop has watched them for a while; the difference divided by ``--hold``.

The **baseline**, in the same process: the same instance started directly on a ``LocalBackend``
(``start_instance`` → SSH login), so the ratio order/baseline is what the platform adds (HTTP, placement,
the loop's polling interval, recording the delivery).

    .venv/bin/python bench/instance_order_to_ssh.py          # --runs 5 --hold 5; as root (the sandbox needs it)
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from suanli.backends import LocalBackend  # noqa: E402
from suanli.backends.instances import InstanceSpec  # noqa: E402

TARGET_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ssh_ok(key: Path, host: str, port: int, user: str) -> bool:
    return subprocess.run(["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "ConnectTimeout=2", "-o", "LogLevel=ERROR", "-p", str(port), f"{user}@{host}",
                           "true"], capture_output=True, timeout=30).returncode == 0


def until(check, timeout: float = 120.0, what: str = "") -> float:
    began = time.monotonic()
    while True:
        value = check()
        if value:
            return time.monotonic()
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Platform:
    def __init__(self, home: Path) -> None:
        self.home = home
        suanli = shutil.which("suanli", path=str(Path(sys.executable).parent)) or "suanli"
        self.port = free_port()
        self.env = {**os.environ, "SUANLI_HOME": str(home), "SUANLI_DATABASE_URL": f"sqlite:///{home / 'suanli.db'}",
                    "SUANLI_PORT": str(self.port)}
        for name in ("SUANLI_API_URL", "SUANLI_TOKEN"):
            self.env.pop(name, None)
        subprocess.run([suanli, "demo", "--no-serve", "--no-job"], env=self.env, check=True, capture_output=True,
                       timeout=600)
        self.log = (home / "serve.log").open("wb")
        self.process = subprocess.Popen([suanli, "serve", "--port", str(self.port)], env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        until(lambda: self._healthy(), 60, "suanli serve")
        token = self.http.post("/api/v1/auth/token", data={"username": "buyer@demo.suanli.cn",
                                                           "password": "suanli-demo"}).json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.key = home / "demo-ssh" / "id_ed25519"
        found = self.http.get("/api/v1/products", params={"q": "delivery=container sort=price", "limit": 1}).json()
        self.product = found["items"][0]["id"]

    def _healthy(self) -> bool:
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def instance(self, order_id: str) -> dict:
        (instance,) = self.http.get(f"/api/v1/orders/{order_id}/instances").json()
        return instance

    def order(self) -> str:
        r = self.http.post("/api/v1/orders", json={"product_id": self.product, "mode": "on_demand", "units": 1,
                                                   "image": "cpu-python"})
        if r.status_code != 201:
            raise RuntimeError(f"order refused: {r.text}")
        return r.json()["id"]

    def lease(self) -> tuple[float, float, float]:
        """(order → SSH, order → running, release → stopped) seconds."""
        began = time.monotonic()
        order_id = self.order()
        ran = until(lambda: self.instance(order_id)["state"] == "running", 120, "running")
        access = self.instance(order_id)["access"]
        logged_in = until(lambda: ssh_ok(self.key, access["ssh_host"], access["ssh_port"], access["ssh_user"]), 120,
                          "ssh")
        released = time.monotonic()
        self.http.post(f"/api/v1/orders/{order_id}/release").raise_for_status()
        stopped = until(lambda: self.instance(order_id)["state"] == "stopped", 60, "stopped")
        return logged_in - began, ran - began, stopped - released

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            self.process.wait(timeout=30)
        self.log.close()


def baseline(key: Path, public: str) -> float:
    """start_instance → SSH login on a LocalBackend of its own (no HTTP, no loop)."""
    base = Path(tempfile.mkdtemp(prefix="suanli-bench-base-"))
    backend = LocalBackend(base, grace_seconds=2)
    spec = InstanceSpec(instance_id=f"b-{secrets.token_hex(6)}", image="cpu-python", authorized_keys=(public,),
                        jupyter_token=secrets.token_urlsafe(32), memory_gib=4)
    began = time.monotonic()
    run = backend.start_instance(spec)
    try:
        while True:
            status = backend.instance_status(run)
            if status.access is not None and ssh_ok(key, status.access.ssh_host, status.access.ssh_port,
                                                    status.access.ssh_user):
                return time.monotonic() - began
            if time.monotonic() - began > 120:
                raise RuntimeError("baseline instance did not come up")
            time.sleep(0.1)
    finally:
        backend.stop_instance(run)
        backend.close()
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hold", type=int, default=5, help="leases kept running at once to measure server memory")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the local backend's sandbox needs it", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="suanli-bench-home-"))
    home.chmod(0o700)
    print(f"load average {os.getloadavg()[0]:.2f}; demo in {home}")
    platform = Platform(home)
    public = (platform.key.parent / "id_ed25519.pub").read_text().strip()
    results, bases = [], []
    try:
        for n in range(args.runs):
            results.append(platform.lease())
            bases.append(baseline(platform.key, public))
            ssh_s, run_s, stop_s = results[-1]
            print(f"run {n + 1}: order → SSH {ssh_s:.2f} s, → running {run_s:.2f} s, release → stopped "
                  f"{stop_s:.2f} s; baseline start → SSH {bases[-1]:.2f} s")
        time.sleep(3)
        idle = rss_kib(platform.process.pid)
        held = [platform.order() for _ in range(args.hold)]
        for order_id in held:
            until(lambda o=order_id: platform.instance(o)["state"] == "running", 180, "running")
        time.sleep(10)  # the loop watches them for a few passes
        busy = rss_kib(platform.process.pid)
        for order_id in held:
            platform.http.post(f"/api/v1/orders/{order_id}/release").raise_for_status()
        for order_id in held:
            until(lambda o=order_id: platform.instance(o)["state"] == "stopped", 60, "stopped")
    finally:
        platform.stop()
    ssh_median = statistics.median(r[0] for r in results)
    base_median = statistics.median(bases)
    print()
    print(f"order → SSH login:   median {ssh_median:.2f} s (min {min(r[0] for r in results):.2f}, max "
          f"{max(r[0] for r in results):.2f}) over {args.runs}; target ≤ {TARGET_SECONDS:.0f} s")
    print(f"order → running:     median {statistics.median(r[1] for r in results):.2f} s")
    print(f"release → stopped:   median {statistics.median(r[2] for r in results):.2f} s")
    print(f"baseline start → SSH (LocalBackend alone): median {base_median:.2f} s; ratio {ssh_median / base_median:.2f}×")
    print(f"suanli serve RSS: {idle / 1024:.0f} MiB idle, {busy / 1024:.0f} MiB with {args.hold} running: "
          f"{(busy - idle) / 1024 / args.hold:.2f} MiB per running instance")
    shutil.rmtree(home, ignore_errors=True)
    return 0 if ssh_median <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
