"""Templates over the API, and every template's smoke version run as a real job: jobs API -> scheduler -> local
backend (real processes), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from jobs_helpers import get_job, register_cluster, run_round, submit
from trading_helpers import Market, assert_ledger_consistent, new_market, quick_user

from suanli.core.templates import TEMPLATES
from suanli.templates import script_files

ECOSYSTEM_ENV = {"cuda": "CUDA_VISIBLE_DEVICES", "cann": "ASCEND_RT_VISIBLE_DEVICES", "dtk": "HIP_VISIBLE_DEVICES"}
CHIP_OF = {"cuda": "a800", "cann": "ascend-910b", "dtk": "hygon-dcu-z100"}


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    m = new_market(db, make)
    yield m
    assert_ledger_consistent(m)


def test_list_filter_and_show(client):
    r = client.get("/api/v1/templates")  # a visitor
    assert r.status_code == 200, r.text
    items = r.json()
    assert {t["id"] for t in items} == set(TEMPLATES)
    for t in items:
        assert t["environment"]["image"] and t["environment"]["pip"] and t["parameters"]
        assert t["smoke_command"].endswith("--smoke") and t["result_file"] == "output/result.json"
    cann = client.get("/api/v1/templates", params={"ecosystem": "cann", "kind": "finetune"}).json()
    assert [t["id"] for t in cann] == ["lora-finetune-cann"]
    assert "torch_npu" in " ".join(cann[0]["environment"]["pip"])
    shown = client.get("/api/v1/templates/cpu-hpc-stencil").json()
    assert "def solve_numpy" in shown["file_contents"]["heat_stencil.py"]
    assert {p["name"] for p in shown["parameters"]} == {"grid", "iterations", "tolerance", "ranks"}
    r = client.get("/api/v1/templates/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "template_not_found"
    r = client.get("/api/v1/templates", params={"ecosystem": "opencl"})
    assert r.status_code == 422 and "cann" in r.json()["error"]["message"]


def test_every_templates_smoke_version_runs_as_a_scheduled_job(market, tmp_path):
    seller = quick_user(market.db, "seller")
    datacenter = market.make.datacenter(seller)
    products = {eco: market.make.product(seller, datacenter, name=f"{chip} ×8", chip=chip, accelerators=8,
                                         stock_units=4, price_on_demand_fen=6000)
                for eco, chip in CHIP_OF.items()}
    products["cpu"] = market.make.product(seller, datacenter, name="CPU 32 核", kind="cpu", chip=None,
                                          accelerators=0, vcpus=32, memory_gib=128, stock_units=4,
                                          price_on_demand_fen=300, price_spot_floor_fen=None,
                                          price_reserved_month_fen=None)
    register_cluster(market, seller, datacenter["id"], list(products.values()), str(tmp_path / "jobs"))
    buyer = market.buyer(topup_fen=1_000_000)
    jobs = {}
    for template in TEMPLATES.values():
        resources = ({"accelerators": 1, "chip": CHIP_OF[template.ecosystem]} if template.ecosystem
                     else {"vcpus": 4, "memory_gib": 8})
        job = submit(market, buyer, name=template.id, command=template.command(smoke=True),
                     files=script_files(template), resources=resources, max_runtime_minutes=template.smoke_minutes)
        jobs[template.id] = job["id"]
    done: dict[str, dict] = {}
    for _ in range(300):
        run_round(market)
        for tid, job_id in jobs.items():
            if tid not in done:
                job = get_job(market, buyer, job_id)
                if job["state"] in ("succeeded", "failed", "cancelled"):
                    done[tid] = job
        if len(done) == len(jobs):
            break
        market.clock.advance(1)
    assert set(done) == set(jobs), {t: get_job(market, buyer, j)["state"] for t, j in jobs.items()}
    for tid, job in done.items():
        template = TEMPLATES[tid]
        logs = market.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=buyer["headers"]).json()["logs"]
        assert job["state"] == "succeeded", (tid, job["state_detail"], logs)
        result = json.loads(next(line for line in logs.splitlines() if line.startswith("RESULT "))[7:])
        assert result["mode"] == "smoke" and result["template"] == template.script.removesuffix(".py")
        if template.ecosystem:  # the scheduler's device selection reached the script
            assert result["device"]["visible_devices"][ECOSYSTEM_ENV[template.ecosystem]] == \
                [str(i) for i in range(8)]
            assert job["placement"]["product_id"] == products[template.ecosystem]["id"]
        else:
            assert job["placement"]["product_id"] == products["cpu"]["id"]
        if template.kind == "finetune":
            assert result["loss_last"] < result["loss_first"] and result["steps"] == 40
        elif template.kind == "serving":
            assert result["requests"] == 8 and result["completion_tokens"] == 128 and result["tokens_per_s"] > 0
        elif template.kind == "batch_inference":
            assert result["prompts"] == result["completions"] == 20
        else:
            assert result["iterations"] == 40 and 0 < result["mean_temperature"] < 100
        assert job["order_id"] is not None


def test_the_openapi_schema_documents_the_advisor_responses(client):
    spec = client.get("/openapi.json").json()
    refs = {path: spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
            for path, method, status in (("/api/v1/estimates", "post", "200"),
                                         ("/api/v1/recommendations", "post", "200"),
                                         ("/api/v1/recommendations/launch", "post", "201"),
                                         ("/api/v1/templates/{template_id}", "get", "200"))}
    assert refs["/api/v1/estimates"] == {"$ref": "#/components/schemas/EstimateOut"}
    assert refs["/api/v1/recommendations"] == {"$ref": "#/components/schemas/RecommendationsOut"}
    assert refs["/api/v1/recommendations/launch"] == {"$ref": "#/components/schemas/LaunchOut"}
    schemas = spec["components"]["schemas"]
    assert {"hours", "cost", "billing", "ecosystem", "reason"} <= set(schemas["RecommendationItem"]["properties"])
    assert {"why_not", "suggestions", "best_by_chip"} <= set(schemas["RecommendationsOut"]["properties"])
    assert "file_contents" in schemas["TemplateDetailOut"]["properties"]
