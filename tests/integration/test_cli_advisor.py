"""`suanli estimate` and `suanli advise` against the demo network in a fresh SQLite home."""

from __future__ import annotations

import json
import re
import time


from suanli.core.billing import SystemClock
from suanli.db import default_database
from suanli.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from suanli.jobs.scheduler import run_round
from cli_helpers import forget_database, invoke, use_home

WORKLOAD = ["--kind", "llm_finetune", "--method", "lora", "--params-b", "7", "--tokens", "100000000"]


def test_estimate_and_advise_on_the_demo(tmp_path, monkeypatch):
    use_home(monkeypatch, tmp_path, fast_passwords=True)
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
        assert "deadline risk" in result.output and re.search(r"\b(low|medium|high)\b", result.output)
        data = json.loads(invoke("advise", *WORKLOAD, "--deadline-hours", "24", "--budget", "2000",
                                 "--ecosystems", "cuda,cann,dtk", "--json").output)
        assert data["items"] and all(i["cost"]["central"]["fen"] <= 200_000 for i in data["items"])
        assert {b["chip"]["ecosystem"] for b in data["best_by_chip"]} >= {"cuda", "cann"}
        assert {i["ecosystem"]["key"] for i in data["best_by_ecosystem"]} >= {"cuda", "cann"}
        spot = [i for i in data["items"] if i["billing"]["mode"] == "spot"]
        assert all(i["billing"]["quote"]["bid_hour"]["fen"] > 0 for i in spot)

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
        forget_database()


def test_estimate_dl_training_prints_samples_per_second_and_infers_the_kind(tmp_path, monkeypatch):
    use_home(monkeypatch, tmp_path)
    try:
        assert invoke("db", "upgrade").exit_code == 0
        # no --kind: --flops-per-sample says dl_training
        result = invoke("estimate", "--chip", "V100-SXM2-16GB", "--count", "8", "--flops-per-sample", "2.45e10",
                        "--params-m", "25.6", "--batch-size", "128", "--precision", "amp", "--samples", "1281167")
        assert result.exit_code == 0, result.output
        text = re.sub(r"\s+", " ", result.output)
        assert "dl_training on 8 × NVIDIA V100 SXM2 16GB" in text
        assert "samples/s (low / central / high)" in text and "FLOPs utilisation" in text
        assert "ms per step" in text and "bottleneck" in text and "80% of held-out" in text
        data = json.loads(invoke("estimate", "--chip", "A100 40GB", "--model", "bert_large", "--batch-size", "16",
                                 "--precision", "amp", "--servers", "2", "--count", "16", "--json").output)
        assert data["estimate"]["servers"] == 2 and data["estimate"]["samples_per_s"] > 0
        # GFLOPs typed where FLOPs are asked: refused with what to type
        result = invoke("estimate", "--chip", "A100", "--flops-per-sample", "73.6", "--samples", "1000")
        assert result.exit_code == 1 and "GFLOPs" in re.sub(r"\s+", " ", result.output)
        help_text = re.sub(r"\s+", " ", invoke("estimate", "--help").output)
        assert "not GFLOPs" in help_text and "samples per device per step" in help_text
        assert "did you mean 73.6e9 x 6" in re.sub(r"\s+", " ", result.output)
        # the architecture class, in the user's word
        data = json.loads(invoke("estimate", "--chip", "A10G", "--flops-per-sample", "1.5e8", "--params-m", "28",
                                 "--architecture", "tts", "--precision", "amp", "--json").output)
        assert any("speech models: the measured models" in n for n in data["estimate"]["notes"])
        # nothing says what to estimate: the kinds, dl_training first, instead of a missing LLM field
        result = invoke("estimate", "--chip", "A100")
        assert result.exit_code == 1 and "--kind dl_training" in re.sub(r"\s+", " ", result.output)
        # a training precision only dl_training has implies it
        result = invoke("estimate", "--chip", "A100", "--precision", "amp")
        assert "dl_training" in re.sub(r"\s+", " ", result.output)
    finally:
        forget_database()
