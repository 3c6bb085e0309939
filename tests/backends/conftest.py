"""Real clusters for the backend tests: one single-node Slurm 22.05 (``tests/harness/slurm.sh``) and one local Ray
head (``tests/harness/ray_head.py``) per test session, each started on free ports in a temp dir of its own and
stopped at the end, even when tests fail.

They need Debian's ``slurm-wlm slurmrestd munge slurm-wlm-jwt-plugin`` (and root, to start munged and slurmd)
and PyPI's ``ray[default]``. When something is missing the fixtures FAIL and say what to install; set
``SUANLI_TEST_SKIP_CLUSTERS=1`` to skip the cluster tests knowingly on a machine without them.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cluster_helpers import TIMINGS

from suanli import backends
from suanli.backends import Backend

HARNESS = Path(__file__).resolve().parents[1] / "harness"
sys.path.insert(0, str(HARNESS))
from ray_head import INSTALL_HINT as RAY_INSTALL_HINT  # noqa: E402
from ray_head import RayHead  # noqa: E402

SKIP_CLUSTERS = os.environ.get("SUANLI_TEST_SKIP_CLUSTERS") == "1"
SLURM_PACKAGES = "apt-get install -y slurm-wlm slurmrestd munge slurm-wlm-jwt-plugin"
SLURM_BINARIES = ("slurmctld", "slurmd", "slurmrestd", "munged", "scontrol", "sinfo", "setpriv")


def _port_block(size: int) -> int:
    """A port p such that p .. p+size-1 are all free now (slurmrestd, slurmctld, slurmd take three in a row)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + size > 65535:
            continue
        try:
            held = []
            for port in range(base, base + size):
                s = socket.socket()
                held.append(s)
                s.bind(("", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no block of free ports found")


def _short_tmpdir(prefix: str) -> Path:
    """A short directory under /tmp that other users can traverse (Slurm jobs run as an unprivileged user, and
    Ray's unix socket paths must stay short): pytest's tmp_path is neither."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


# ------------------------------------------------------------------------------------------------ Slurm


@dataclass
class SlurmCluster:
    dir: Path
    port: int
    nodes: int = 1
    url: str = ""
    user: str = ""
    token: str = ""
    conf: str = ""
    jobs_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.jobs_dir = self.dir / "jobs"

    def _harness(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(["bash", str(HARNESS / "slurm.sh"), *args], capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"slurm.sh {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                               f"{result.stderr}")
        return result.stdout

    def start(self) -> None:
        out = self._harness("start", str(self.dir), str(self.port), str(self.nodes))
        line = out.strip().splitlines()[-1]
        values = dict(item.split("=", 1) for item in line.split())
        self.url, self.user, self.token, self.conf = (values["SLURMRESTD_URL"], values["SLURM_USER"],
                                                      values["SLURM_JWT"], values["SLURM_CONF"])
        self.jobs_dir.mkdir(exist_ok=True)
        self.jobs_dir.chmod(0o755)

    def stop(self) -> None:
        self._harness("stop", str(self.dir))

    def crash(self) -> None:
        """SIGKILL the daemons (running jobs' slurmstepd live on, as on a real node)."""
        self._harness("kill", str(self.dir))

    def scontrol(self, *args: str) -> str:
        result = subprocess.run(["scontrol", *args], capture_output=True, text=True, timeout=30,
                                env={**os.environ, "SLURM_CONF": self.conf})
        if result.returncode != 0:
            raise RuntimeError(f"scontrol {' '.join(args)}: {result.stderr}")
        return result.stdout

    def restart_slurmd(self) -> None:
        slurmd = shutil.which("slurmd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or "slurmd"
        subprocess.run([slurmd, "-f", self.conf], check=True, timeout=30, env={**os.environ, "SLURM_CONF": self.conf})

    def pid(self, daemon: str) -> int:
        return int((self.dir / f"{daemon}.pid").read_text())

    def backend(self, **options: object) -> Backend:
        return backends.create("slurm", self.url, {"user": self.user, "token": self.token},
                               {"shared_dir": str(self.jobs_dir), **options})


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    yield from _slurm_cluster(1)


@pytest.fixture(scope="session")
def slurm_gang_cluster() -> Iterator[SlurmCluster]:
    """A real Slurm of two nodes (two slurmd on this host, 4 fake A800 each) for multi-node gang jobs."""
    yield from _slurm_cluster(2)


def _slurm_cluster(nodes: int) -> Iterator[SlurmCluster]:
    if SKIP_CLUSTERS:
        pytest.skip("SUANLI_TEST_SKIP_CLUSTERS=1: real Slurm not started")
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [b for b in SLURM_BINARIES if shutil.which(b, path=path) is None]
    if missing:
        pytest.fail(f"real Slurm needed, missing {', '.join(missing)}: {SLURM_PACKAGES} "
                    "(or set SUANLI_TEST_SKIP_CLUSTERS=1 to skip these tests knowingly)")
    if os.geteuid() != 0:
        pytest.fail("the Slurm harness starts munged and slurmd, which needs root "
                    "(or set SUANLI_TEST_SKIP_CLUSTERS=1 to skip these tests knowingly)")
    cluster = SlurmCluster(_short_tmpdir("suanli-slurm-"), _port_block(2 + nodes), nodes)
    started = time.monotonic()
    try:
        cluster.start()
        TIMINGS["slurm start"] = time.monotonic() - started
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(cluster.dir, ignore_errors=True)


def _runs_as(user: str, command: str) -> bool:
    result = subprocess.run(["runuser", "-u", user, "--", "sh", "-c", f"cd / && {command} --version"],
                            capture_output=True, timeout=60)
    return result.returncode == 0


@pytest.fixture(scope="session")
def slurm_jupyter(slurm_cluster: SlurmCluster) -> Iterator[str]:
    """A ``jupyter_command`` that starts this venv's JupyterLab as the Slurm job user. The venv's interpreter may
    live where that user cannot go (pyenv under /root): then the system Python of the same version runs it with
    the venv's site-packages, bind-mounted read-only into the cluster's directory if the user cannot reach them."""
    try:
        import jupyterlab
    except ImportError:
        pytest.fail("JupyterLab needed for the instance tests: pip install 'jupyterlab==4.6.6' (pyproject's dev extra)")
    site = Path(jupyterlab.__file__).resolve().parents[1]
    # The instance sandbox gives the job a private /tmp and /var/tmp: a venv under them (a checkout in /tmp) is not
    # there for it, so it is bind-mounted read-only elsewhere.
    hidden = any(Path(p).resolve() in (site, *site.parents) for p in ("/tmp", "/var/tmp"))
    own = f"{shlex.quote(sys.executable)} -m jupyterlab"
    if not hidden and _runs_as(slurm_cluster.user, own):
        yield own
        return
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    command = f"env PYTHONPATH={shlex.quote(str(site))} {system} -m jupyterlab"
    mount = Path(f"/run/suanli-test-site-packages-{os.getpid()}") if hidden else slurm_cluster.dir / "site-packages"
    mounted = False
    try:
        if hidden or not _runs_as(slurm_cluster.user, command):
            mount.mkdir(mode=0o755, exist_ok=True)
            subprocess.run(["mount", "--bind", "-o", "ro", str(site), str(mount)], check=True, timeout=30)
            mounted = True
            command = f"env PYTHONPATH={shlex.quote(str(mount))} {system} -m jupyterlab"
        if not _runs_as(slurm_cluster.user, command):
            pytest.fail(f"the Slurm job user {slurm_cluster.user} cannot run JupyterLab: neither {sys.executable} "
                        f"nor {system} with {site} works for it")
        yield command
    finally:
        if mounted:
            subprocess.run(["umount", str(mount)], timeout=30)
            if hidden:
                with contextlib.suppress(OSError):  # still busy while the last job's processes exit
                    mount.rmdir()


@pytest.fixture
def slurm(slurm_cluster: SlurmCluster) -> Iterator[Backend]:
    backend = slurm_cluster.backend()
    yield backend
    backend.close()


# -------------------------------------------------------------------------------------------------- Ray


@dataclass
class RayCluster:
    head: RayHead
    scratch: Path  # a directory the tests and the jobs share (same machine)

    @property
    def url(self) -> str:
        assert self.head.dashboard_url
        return self.head.dashboard_url

    def backend(self, **options: object) -> Backend:
        return backends.create("ray", self.url, None,
                               {"remote_dir": str(self.scratch / "remote"), **options})

    def restart(self) -> None:
        started = time.monotonic()
        self.head.start()
        TIMINGS["ray restart"] = time.monotonic() - started


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    if SKIP_CLUSTERS:
        pytest.skip("SUANLI_TEST_SKIP_CLUSTERS=1: real Ray not started")
    if not (Path(sys.executable).parent / "ray").exists():
        pytest.fail(f"real Ray needed: {RAY_INSTALL_HINT} (or set SUANLI_TEST_SKIP_CLUSTERS=1 to skip knowingly)")
    base = _short_tmpdir("suanli-ray-")
    head = RayHead(base / "head")
    started = time.monotonic()
    try:
        head.start()
        TIMINGS["ray start"] = time.monotonic() - started
        yield RayCluster(head, base)
    finally:
        try:
            head.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ray(ray_cluster: RayCluster) -> Iterator[Backend]:
    backend = ray_cluster.backend()
    yield backend
    backend.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.write_line("cluster timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in TIMINGS.items()))


# ------------------------------------------------------------------------------------------------ specs


@pytest.fixture
def new_spec() -> Callable[..., backends.JobSpec]:
    """``new_spec(command=..., **fields)``: a JobSpec with a fresh job id."""
    import uuid

    def make(command: str | None = None, **fields: object) -> backends.JobSpec:
        fields.setdefault("name", "test job")
        if "script" not in fields:
            fields["command"] = command
        return backends.JobSpec(job_id=f"t-{uuid.uuid4().hex[:12]}", **fields)  # type: ignore[arg-type]

    return make
