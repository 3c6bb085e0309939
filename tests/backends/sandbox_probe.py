"""Run inside a tenant's sandbox (a job, or an instance's SSH session): tries what a hostile tenant would and
prints one JSON object: for each attempt, "ok" or the errno name it failed with. Standard library only.

    python3 sandbox_probe.py '{"read": {"secret": "/path"}, "write": {...}, "connect": {"pg": ["127.0.0.1", 5432]}}'
"""

import errno
import json
import os
import socket
import sys


def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))


def read(path):
    with open(path, "rb") as fh:
        fh.read(1)


def write(path):
    with open(path, "w") as fh:
        fh.write("a tenant was here\n")


def connect(address):
    host, port = address
    with socket.create_connection((host, port), timeout=5):
        pass


def main():
    wanted = json.loads(sys.argv[1])
    out = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
    for name, path in wanted.get("read", {}).items():
        out[name] = attempt(lambda p=path: read(p))
    for name, path in wanted.get("list", {}).items():
        out[name] = attempt(lambda p=path: os.listdir(p))
    for name, path in wanted.get("write", {}).items():
        out[name] = attempt(lambda p=path: write(p))
    for name, address in wanted.get("connect", {}).items():
        out[name] = attempt(lambda a=address: connect(a))
    print(json.dumps(out), flush=True)


main()
