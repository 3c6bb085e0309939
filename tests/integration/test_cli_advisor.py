"""`suanli estimate` and `suanli advise` against the demo network in a fresh SQLite home."""

from __future__ import annotations

import json
import re
import time

from argon2 import PasswordHasher
from typer.testing import CliRunner

from suanli.accounts import security
from suanli.cli import app
from suanli.cli import main as cli_main
from suanli.core.billing import SystemClock
from suanli.db import default_database
from suanli.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from suanli.jobs.scheduler import run_round

runner = CliRunner()
ENV_TO_CLEAR = ("SUANLI_DATABASE_URL", "SUANLI_API_URL", "SUANLI_TOKEN", "SUANLI_TOKEN_TTL_HOURS", "FORCE_COLOR",
                "NO_COLOR")
WORKLOAD = ["--kind", "llm_finetune", "--method", "lora", "--params-b", "7", "--tokens", "100000000"]


def _forget_database() -> None:
    if default_database.cache_info().currsize:
        default_database().dispose()
    default_database.cache_clear()


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_estimate_and_advise_on_the_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("SUANLI_HOME", str(tmp_path))
    for name in ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    for console in (cli_main.console, cli_main.err):
        monkeypatch.setattr(console, "_width", 250)
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    _forget_database()
    try:
        assert invoke("demo", "--no-serve").exit_code == 0

        result = invoke("estimate", "--chip", "A800", "--count", "8", *WORKLOAD)
        assert result.exit_code == 0, result.output
        assert "8 × NVIDIA A800" in result.output and "fits in memory" in result.output
        data = json.loads(invoke("estimate", "--chip", "910B", "--count", "8", *WORKLOAD, "--json").output)
        assert data["chip"]["key"] == "ascend-910b" and data["estimate"]["fits_in_memory"] is True

        result = invoke("advise", *WORKLOAD, "--deadline-hours", "24", "--budget", "2000",
                        "--ecosystems", "cuda,cann,dtk")
        assert result.exit_code == 0, result.output
        assert "feasible configurations, cheapest first" in result.output
        assert "Best option per chip" in result.output and "(domestic)" in result.output
        data = json.loads(invoke("advise", *WORKLOAD, "--deadline-hours", "24", "--budget", "2000",
                                 "--ecosystems", "cuda,cann,dtk", "--json").output)
        assert data["items"] and all(i["cost"]["central"]["fen"] <= 200_000 for i in data["items"])
        assert {b["chip"]["ecosystem"] for b in data["best_by_chip"]} >= {"cuda", "cann"}

        result = invoke("advise", *WORKLOAD, "--budget", "0.01", "--ecosystems", "dtk")
        assert result.exit_code == 0, result.output
        assert "No configuration fits" in result.output and "budget" in result.output

        result = invoke("estimate", "--chip", "Z9000", *WORKLOAD)
        assert result.exit_code == 1
        assert "Z9000" in re.sub(r"\s+", " ", result.output)

        result = invoke("templates", "list", "--ecosystem", "cann")
        assert result.exit_code == 0 and "lora-finetune-cann" in result.output and "vllm-serve-cann" in result.output
        result = invoke("templates", "show", "cpu-hpc-stencil")
        assert result.exit_code == 0 and "heat_stencil.py" in result.output and "tolerance" in result.output
        assert invoke("templates", "show", "nope").exit_code == 1

        advise = [*WORKLOAD, "--deadline-hours", "24", "--budget", "2000", "--ecosystems", "cuda,cann,dtk"]
        result = invoke("advise", *advise, "--launch", "1", "--smoke")
        assert result.exit_code == 1 and "log in" in result.output.lower()  # launching needs a login
        buyer = DEMO_ACCOUNTS[0].email
        assert invoke("login", buyer, "--password", DEMO_PASSWORD).exit_code == 0
        data_file = tmp_path / "train.jsonl"
        data_file.write_text('{"instruction": "say hi", "output": "hi"}\n' * 5)
        result = invoke("advise", *advise, "--launch", "1", "--smoke", "--param", "lora_rank=8", "--data",
                        str(data_file), "--json")
        assert result.exit_code == 0, result.output
        launched = json.loads(result.output)
        job = launched["job"]
        assert "--lora-rank 8" in job["command"] and "train.jsonl" in job["files"]
        deadline = time.monotonic() + 60
        while (state := json.loads(invoke("jobs", "show", job["id"], "--json").output)["state"]) not in (
                "succeeded", "failed"):
            assert time.monotonic() < deadline, state
            run_round(default_database(), SystemClock())
            time.sleep(0.2)
        assert state == "succeeded"
        logs = invoke("jobs", "logs", job["id"]).output
        assert "dataset: train.jsonl, 5 records" in logs
        result = invoke("advise", *WORKLOAD, "--budget", "0.01", "--launch", "1")
        assert result.exit_code == 1 and "nothing to launch" in re.sub(r"\s+", " ", result.output)
        assert invoke("advise", *advise, "--smoke").exit_code == 1  # --smoke needs --launch
    finally:
        _forget_database()
