"""A recommendation becomes a scheduled job in one call: advise -> launch -> the scheduler places it -> the local
backend runs the template's smoke version -> succeeded and billed, the ledger balanced (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from jobs_helpers import order_of, register_cluster, run_round, wait_job
from trading_helpers import Market, assert_ledger_consistent, new_market, quick_user

from suanli.core.billing import charge_for_seconds

LORA_7B = {"kind": "llm_finetune", "method": "lora", "params_b": 7, "tokens": 100_000_000}
REQUEST = {"workload": LORA_7B, "deadline_hours": 24, "budget_cny": "2000", "ecosystems": ["cuda", "cann", "dtk"]}


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    m = new_market(db, make)
    yield m
    assert_ledger_consistent(m)


@pytest.fixture
def site(market, tmp_path):
    seller = quick_user(market.db, "seller")
    dc = market.make.datacenter(seller)
    products = {
        "a800": market.make.product(seller, dc, name="A800 ×8", chip="a800", accelerators=8, stock_units=2,
                                    price_on_demand_fen=8000, price_spot_floor_fen=3000),
        "ascend-910b": market.make.product(seller, dc, name="昇腾910B ×8", chip="ascend-910b", accelerators=8,
                                           stock_units=2, price_on_demand_fen=6000, price_spot_floor_fen=None),
        "cpu": market.make.product(seller, dc, name="CPU 64 核", kind="cpu", chip=None, accelerators=0, vcpus=64,
                                   memory_gib=256, stock_units=2, price_on_demand_fen=400, price_spot_floor_fen=None,
                                   price_reserved_month_fen=None),
    }
    register_cluster(market, seller, dc["id"], list(products.values()), str(tmp_path / "jobs"))
    return seller, dc, products


def _launch(market, user, expect=201, **extra):
    headers = user["headers"] if user else {}
    r = market.client.post("/api/v1/recommendations/launch", headers=headers, json={**REQUEST, **extra})
    assert r.status_code == expect, r.text
    return r.json()


def test_advise_then_launch_runs_the_smoke_and_bills_it(market, site):
    _, dc, products = site
    advice = market.client.post("/api/v1/recommendations", json={**REQUEST, "limit": 10}).json()  # a visitor
    assert advice["items"]
    buyer = market.buyer(topup_fen=1_000_000)
    out = _launch(market, buyer, rank=1, smoke=True)
    item, job = out["recommendation"], out["job"]
    assert item == advice["items"][0] and out["rank"] == 1 and out["smoke"] is True
    chip = item["product"]["chip"]
    assert out["template"]["id"] == f"lora-finetune-{chip['ecosystem']}"
    assert job["state"] == "queued" and job["command"].startswith("python3 lora_finetune.py") and "--smoke" in \
        job["command"]
    assert job["resources"]["accelerators"] == item["accelerators"] and job["resources"]["chip"] == chip["key"]
    assert job["constraints"]["datacenters"] == [dc["id"]]
    assert job["constraints"]["products"] == [item["product"]["id"]]
    assert job["constraints"]["max_hourly_price_fen"] == item["price_hour"]["fen"]
    assert any(f"on {item['product']['name']} in {dc['name']} (the job runs on that product only)" in note
               for note in out["notes"]), out["notes"]
    assert job["mode"] == ("spot" if item["billing"]["mode"] == "spot" else "on_demand")
    assert sorted(job["files"]) == ["lora_finetune.py", "suanli_runtime.py"]
    _run_to_success_and_check_the_bill(market, buyer, job, item)


def _run_to_success_and_check_the_bill(market, buyer, job, item):
    summary = run_round(market)
    assert [p["job_id"] for p in summary["placed"]] == [job["id"]]
    wallet = market.wallet(buyer)
    before = wallet["available"]["fen"] + wallet["held"]["fen"]
    market.clock.advance(90)
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"})
    logs = market.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=buyer["headers"]).json()["logs"]
    assert done["state"] == "succeeded", logs
    assert done["placement"]["product_id"] == item["product"]["id"]
    assert '"mode": "smoke"' in logs and "loss" in logs
    order = order_of(market, buyer, done["order_id"])
    charged = order["charged"]["fen"]
    if done["mode"] == "spot":
        assert order["mode"] == "spot" and 0 < charged <= charge_for_seconds(done["bid_hourly_fen"], 1, 90)
    else:
        assert charged == charge_for_seconds(done["placement"]["hourly_price_fen"], 1, 90) > 0
    assert order["status"] == "ended"
    wallet = market.wallet(buyer)
    assert wallet["held"]["fen"] == 0 and wallet["available"]["fen"] == before - charged


def test_spot_and_on_demand_advice_both_launch_and_bill(market, site):
    _, _, products = site
    buyer = market.buyer(topup_fen=1_000_000)
    modes = set()
    for key in ("a800", "ascend-910b"):
        out = _launch(market, buyer, product_id=products[key]["id"], smoke=True)
        modes.add(out["job"]["mode"])
        _run_to_success_and_check_the_bill(market, buyer, out["job"], out["recommendation"])
    assert modes == {"spot", "on_demand"}  # the A800 has a spot floor and the deadline leaves slack; the 910B none


def test_a_launched_option_runs_on_its_product_even_when_a_cheaper_equal_one_is_free(market, site, tmp_path):
    seller, dc, products = site
    cheaper = market.make.product(seller, dc, name="A800 ×8 特价", chip="a800", accelerators=8, stock_units=2,
                                  price_on_demand_fen=7000, price_spot_floor_fen=2000)
    register_cluster(market, seller, dc["id"], [cheaper], str(tmp_path / "jobs-cheaper"), name="cheaper")
    buyer = market.buyer(topup_fen=1_000_000)
    out = _launch(market, buyer, product_id=products["a800"]["id"], smoke=True)
    job = out["job"]
    assert job["constraints"]["products"] == [products["a800"]["id"]]
    summary = run_round(market)
    assert [p["job_id"] for p in summary["placed"]] == [job["id"]]
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded" and done["placement"]["product_id"] == products["a800"]["id"]
    assert market.allocated(cheaper) == 0


def test_the_job_runs_what_was_estimated(market, site):
    buyer = market.buyer(topup_fen=1_000_000)
    workload = {**LORA_7B, "lora_rank": 32, "seq_len": 1024, "precision": "fp8"}
    job = _launch(market, buyer, rank=1, workload=workload, ecosystems=["cuda"], budget_cny=None)["job"]
    assert "--lora-rank 32" in job["command"] and "--seq-len 1024" in job["command"]
    assert "--precision bf16" in job["command"]  # fp8 is not a template precision: its default stays
    job = _launch(market, buyer, rank=1, workload=workload, ecosystems=["cuda"], budget_cny=None,
                  parameters={"lora_rank": 4})["job"]
    assert "--lora-rank 4" in job["command"]  # an explicit parameter wins


def test_launch_by_product_pins_the_option_mode_and_runtime(market, site):
    _, _, products = site
    buyer = market.buyer(topup_fen=1_000_000)
    advice = market.client.post("/api/v1/recommendations", json={**REQUEST, "limit": 100}).json()
    for key in ("a800", "ascend-910b"):
        rank, item = next((n, i) for n, i in enumerate(advice["items"], 1)
                          if i["product"]["id"] == products[key]["id"])
        out = _launch(market, buyer, product_id=products[key]["id"], parameters={"lora_rank": 8},
                      name=f"real {key}")
        job = out["job"]
        assert out["rank"] == rank and out["recommendation"]["product"]["id"] == products[key]["id"]
        assert "--smoke" not in job["command"] and "--lora-rank 8" in job["command"]
        assert "--method lora" in job["command"] and "--seq-len 2048" in job["command"]  # from the workload
        assert job["max_runtime_minutes"] == math.ceil(item["hours"]["high"] * 60)  # the slow estimate
        assert job["name"] == f"real {key}"
        if item["billing"]["mode"] == "spot":
            # the bid the advice quoted (the floor, for the whole allocation), not the on-demand price
            quote = item["billing"]["quote"]
            assert job["mode"] == "spot" and job["bid_hourly_fen"] == quote["price_hour"]["fen"]
            assert quote["bid_hour"]["fen"] * item["units"] == quote["price_hour"]["fen"] < item["price_hour"]["fen"]
        else:
            assert job["mode"] == "on_demand" and job["bid_hourly_fen"] is None
    ascend = market.client.get("/api/v1/jobs", headers=buyer["headers"]).json()["items"]
    assert {j["command"].split()[1] for j in ascend} == {"lora_finetune.py"}
    assert any(j["resources"]["chip"] == "ascend-910b" and j["resources"]["ecosystems"] == ["cann"] for j in ascend)


def test_inference_launches_serving_for_the_window_or_a_chosen_template(market, site):
    buyer = market.buyer(topup_fen=1_000_000)
    serve = {"workload": {"kind": "llm_inference", "params_b": 7, "target_tokens_per_s": 50}, "deadline_hours": 10,
             "budget_cny": None, "ecosystems": ["cann"]}
    out = _launch(market, buyer, rank=1, **serve)
    assert out["template"]["id"] == "vllm-serve-cann" and out["job"]["command"].startswith("python3 vllm_serve.py")
    assert out["job"]["max_runtime_minutes"] == 600  # the serving window priced by the advice
    out = _launch(market, buyer, rank=1, template_id="batch-inference-cann", parameters={"max_new_tokens": 64},
                  smoke=True, **serve)
    assert out["template"]["id"] == "batch-inference-cann" and "--max-new-tokens 64" in out["job"]["command"]
    done = wait_job(market, buyer, out["job"]["id"], {"succeeded", "failed"})
    logs = market.client.get(f"/api/v1/jobs/{done['id']}/logs", headers=buyer["headers"]).json()["logs"]
    assert done["state"] == "succeeded" and '"completions": 20' in logs, logs


def test_a_cpu_workload_launches_the_hpc_template(market, site):
    _, _, products = site
    buyer = market.buyer(topup_fen=100_000)
    out = _launch(market, buyer, workload={"kind": "cpu", "core_hours": 64, "memory_gib": 32}, ecosystems=["cuda"],
                  budget_cny=None, smoke=True)
    job = out["job"]
    assert out["template"]["id"] == "cpu-hpc-stencil" and job["command"].startswith("python3 heat_stencil.py")
    assert job["resources"]["vcpus"] == out["recommendation"]["units"] * 64
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded" and done["placement"]["product_id"] == products["cpu"]["id"]
    logs = market.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=buyer["headers"]).json()["logs"]
    assert "mean_temperature" in logs


def test_launch_errors_are_clear_4xx(market, site):
    seller, _, products = site
    buyer = market.buyer(topup_fen=100_000)
    r = market.client.post("/api/v1/recommendations/launch", json={**REQUEST, "rank": 1})
    assert r.status_code == 401  # recommendations are open, launching needs a login
    cases = [
        ({"rank": 99}, 422, "option_not_found", "rank"),
        ({"rank": 1, "budget_cny": "0.01"}, 409, "nothing_feasible", "why_not"),
        ({"rank": 1, "parameters": {"lora_rank": 0}}, 422, "invalid_template_parameter", "lora_rank"),
        ({"rank": 1, "parameters": {"unknown": 1}}, 422, "invalid_template_parameter", "unknown"),
        ({"rank": 1, "template_id": "vllm-serve-cuda"}, 422, "template_mismatch", "llm_inference"),
        ({"rank": 1, "template_id": "nope"}, 404, "template_not_found", "nope"),
        ({"rank": 1, "product_id": products["cpu"]["id"]}, 422, None, "rank or product_id"),
        ({"product_id": products["cpu"]["id"]}, 422, "option_not_found", "product_id"),
        ({"workload": {"kind": "dl_training", "flops_per_sample": 1e9, "samples": 1000}}, 422, "no_template",
         "template_id"),
        ({"rank": 1, "files": {"lora_finetune.py": "x"}}, 422, "invalid_value", "lora_finetune.py"),
    ]
    for extra, status, code, text in cases:
        body = _launch(market, buyer, expect=status, **extra)
        if code:
            assert body["error"]["code"] == code, body
        assert text in str(body["error"]), body
    full = {**LORA_7B, "method": "full", "params_b": 1}
    body = _launch(market, buyer, expect=422, rank=1, workload=full, budget_cny=None)
    assert body["error"]["code"] == "template_mismatch" and "parameters.method" in body["error"]["message"]
    qlora = {**LORA_7B, "method": "qlora"}
    body = _launch(market, buyer, expect=422, product_id=products["ascend-910b"]["id"], workload=qlora)
    assert body["error"]["code"] == "template_mismatch" and "lora-finetune-cann" in body["error"]["message"]
    long_run = {**LORA_7B, "tokens": 100_000_000_000}
    body = _launch(market, buyer, expect=422, rank=1, workload=long_run, deadline_hours=24 * 365, budget_cny=None)
    assert body["error"]["code"] == "too_long" and body["error"]["details"]["hours_high"] > 720
    body = _launch(market, seller, expect=403, rank=1)
    assert body["error"]["code"] == "wrong_role"
    _, dc, _ = site
    off_cluster = market.make.product(seller, dc, name="A800 ×8 off cluster", chip="a800", accelerators=8,
                                      price_on_demand_fen=100, price_spot_floor_fen=None)
    body = _launch(market, buyer, expect=409, rank=1)  # now the cheapest option, but no cluster runs jobs on it
    assert body["error"]["code"] == "not_schedulable" and "/api/v1/orders" in body["error"]["message"]
    assert body["error"]["details"]["product_id"] == off_cluster["id"]
    assert market.client.get("/api/v1/jobs", headers=buyer["headers"]).json()["total"] == 0  # nothing submitted
