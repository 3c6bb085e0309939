"""The advisor API: estimates for a named chip and recommendations from the live catalog (both databases)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from suanli.core.chips import load_chip_table
from suanli.core.workloads import MAX_EPOCHS, MAX_PARAMS_B, MAX_SEQ

LORA_7B = {"kind": "llm_finetune", "method": "lora", "params_b": 7, "tokens": 100_000_000}


@pytest.fixture
def catalog(make):
    seller = make.user("seller")
    dc = make.datacenter(seller, name="芜湖智算中心")
    products = {
        "a800": make.product(seller, dc, name="A800 ×8 裸金属", chip="a800", accelerators=8,
                             price_on_demand_fen=8000, price_spot_floor_fen=3000),
        "ascend-910b": make.product(seller, dc, name="昇腾910B ×8", chip="ascend-910b", accelerators=8,
                                    price_on_demand_fen=6000, price_spot_floor_fen=None),
        "rtx4090": make.product(seller, dc, name="RTX 4090 ×1", chip="rtx4090", accelerators=1, vcpus=16,
                                memory_gib=64, price_on_demand_fen=250, price_spot_floor_fen=100,
                                price_reserved_month_fen=100_000),
        "hygon-dcu-z100": make.product(seller, dc, name="海光 DCU Z100 ×8", chip="hygon-dcu-z100", accelerators=8,
                                       price_on_demand_fen=2400, price_spot_floor_fen=None),
    }
    return products


def _recommend(client, **overrides):
    body = {"workload": LORA_7B, "deadline_hours": 24, "budget_cny": "2000", "ecosystems": ["cuda", "cann", "dtk"],
            "limit": 10}
    body.update(overrides)
    return client.post("/api/v1/recommendations", json=body)


def test_the_issue_example_ranks_explained_configurations_across_vendors(client, catalog):
    r = _recommend(client, provinces=["安徽"])  # a visitor: no token
    assert r.status_code == 200, r.text
    data = r.json()
    items = data["items"]
    assert len(items) >= 3
    chips = {i["product"]["chip"]["key"] for i in items}
    assert {"a800", "ascend-910b", "rtx4090"} <= chips
    assert any(i["product"]["chip"]["domestic"] for i in items)
    costs = [i["cost"]["central"]["fen"] for i in items]
    assert costs == sorted(costs)
    for item in items:
        assert item["cost"]["central"]["fen"] <= 200_000
        assert Decimal(item["cost"]["central"]["cny"]) <= Decimal("2000")
        assert item["hours"]["central"] <= 24
        assert item["hours"]["low"] <= item["hours"]["central"] <= item["hours"]["high"]
        assert item["fits_in_memory"] is True
        assert 1 <= item["units"] <= 8
        assert item["accelerators"] == item["units"] * item["product"]["accelerators_per_unit"]
        assert item["reason"] and item["product"]["datacenter"]["name"] == "芜湖智算中心"
        assert item["product"]["city"] == "芜湖"
        assert item["billing"]["mode"] in ("on_demand", "spot", "reserved") and item["billing"]["reason"]
        assert item["ecosystem"]["frameworks"]
    eco = {i["product"]["chip"]["ecosystem"]: i["ecosystem"] for i in items}
    assert "torch_npu" in eco["cann"]["adaptation"] and "MindSpeed" in eco["cann"]["adaptation"]
    if "dtk" in eco:
        assert "hipify" in eco["dtk"]["adaptation"]
    assert data["why_not"] is None
    best = {b["chip"]["key"]: b for b in data["best_by_chip"]}
    assert {"a800", "ascend-910b", "rtx4090"} <= set(best)
    assert all(b["cost_central"]["fen"] <= 200_000 for b in best.values())


def test_excluded_ecosystems_are_not_recommended(client, catalog):
    r = _recommend(client, ecosystems=["cann"])
    assert r.status_code == 200, r.text
    assert {i["product"]["chip"]["ecosystem"] for i in r.json()["items"]} == {"cann"}


def test_a_tight_budget_returns_why_not_and_suggestions(client, catalog):
    r = _recommend(client, budget_cny="1.00", ecosystems=["cuda", "dtk"])
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["items"] == []
    assert data["why_not"]["budget"] > 0
    assert set(data["why_not"]) >= {"memory", "deadline", "budget", "no_stock"}
    suggestions = data["suggestions"]
    assert Decimal(suggestions["min_budget_cny"]) > Decimal("1.00")
    assert suggestions["best_candidate"]["needs_budget_cny"]
    # the suggested budget makes it feasible
    again = _recommend(client, budget_cny=suggestions["min_budget_cny"], ecosystems=["cuda", "dtk"]).json()
    assert again["items"]


def test_allowing_other_ecosystems_is_suggested(client, catalog):
    data = _recommend(client, budget_cny="100", ecosystems=["dtk"]).json()  # the DCU takes ~15 h on 16 cards: > ¥100
    assert data["items"] == [] and data["why_not"]["budget"] > 0
    assert {"cann", "cuda"} <= set(data["suggestions"]["ecosystems"])


def test_billing_advice_reserved_for_long_runs_and_spot_with_slack(client, catalog):
    # 1,400 RTX 4090 hours on one 4090: ~2 months; a 3-month reservation (¥3,000) beats on demand (¥3,500)
    data = _recommend(client, workload={"kind": "gpu_hours", "gpu_hours": 1400, "reference_chip": "4090"},
                      deadline_hours=2000, budget_cny=None, ecosystems=["cuda"], limit=100).json()
    item = next(i for i in data["items"] if i["product"]["chip"]["key"] == "rtx4090")
    assert item["units"] == 1 and item["cost"]["central"]["fen"] == 350_000
    assert item["billing"]["mode"] == "reserved" and "3-month" in item["billing"]["reason"]
    reserved = next(a for a in item["billing"]["alternatives"] if a["mode"] == "reserved")
    assert reserved["term_months"] == 3 and reserved["cost"]["fen"] == 300_000
    # a short run with lots of slack on a product with a spot floor: spot, and why
    data = _recommend(client, ecosystems=["cuda"], budget_cny=None, limit=100).json()
    a800 = next(i for i in data["items"] if i["product"]["chip"]["key"] == "a800")
    assert a800["billing"]["mode"] == "spot" and "slack" not in a800["billing"]["reason"]
    assert "preemption" in a800["billing"]["reason"]


def test_inference_is_priced_for_the_serving_window(client, catalog):
    data = _recommend(client, workload={"kind": "llm_inference", "params_b": 7, "target_tokens_per_s": 50},
                      deadline_hours=10, budget_cny=None).json()
    assert data["items"]
    for item in data["items"]:
        assert item["hours"] == {"low": 10, "central": 10, "high": 10}
        assert item["cost"]["central"]["fen"] == item["price_hour"]["fen"] * 10
        assert "tokens/s" in item["reason"]


def test_a_tight_deadline_counts_deadline_failures(client, catalog):
    data = _recommend(client, deadline_hours=0.01).json()
    assert data["items"] == [] and data["why_not"]["deadline"] > 0
    assert data["suggestions"]["min_deadline_hours"] > 0.01


def test_memory_failures_are_counted(client, catalog):
    data = _recommend(client, workload={"kind": "llm_pretrain", "params_b": 400, "tokens": 10**9},
                      budget_cny=None, deadline_hours=10_000).json()
    assert data["why_not"]["memory"] > 0


@pytest.mark.parametrize("workload_patch, budget, field", [
    ({"tokens": -5}, "2000", "workload.tokens"),
    ({"method": "dora"}, "2000", "workload.method"),
    ({}, "abc", "budget_cny"),
    ({}, "-10", "budget_cny"),
    ({}, "12.345", "budget_cny"),
])
def test_bad_inputs_are_422_with_the_field_named(client, workload_patch, budget, field):
    r = _recommend(client, workload={**LORA_7B, **workload_patch}, budget_cny=budget)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["message"]


def test_float_budget_with_three_decimals_and_unknown_kind_are_refused(client):
    assert _recommend(client, budget_cny=12.345).status_code == 422
    r = _recommend(client, workload={"kind": "quantum", "qubits": 5})
    assert r.status_code == 422 and "workload" in r.json()["error"]["message"]
    r = _recommend(client, ecosystems=["opencl"])
    assert r.status_code == 422 and "opencl" in r.json()["error"]["message"]


def test_estimate_for_a_named_chip(client):
    r = client.post("/api/v1/estimates", json={"workload": LORA_7B, "chip": "A800", "count": 8})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["chip"]["key"] == "a800"
    est = data["estimate"]
    assert est["fits_in_memory"] is True
    assert set(est["memory_breakdown_gib"]) >= {"weights", "activations", "optimizer"}
    assert 0 < est["hours_low"] <= est["hours"] <= est["hours_high"]
    assert est["bottleneck"] in ("compute", "memory_bandwidth", "memory_capacity", "interconnect")
    r = client.post("/api/v1/estimates", json={"workload": LORA_7B, "chip": "910B", "count": 8})
    assert r.status_code == 200 and r.json()["ecosystem"]["key"] == "cann"
    assert any("CANN" in n for n in r.json()["estimate"]["notes"])


def test_estimate_rejects_an_unknown_chip_listing_valid_ones(client):
    r = client.post("/api/v1/estimates", json={"workload": LORA_7B, "chip": "Z9000", "count": 1})
    assert r.status_code == 422
    error = r.json()["error"]
    assert "Z9000" in error["message"] and "a800" in error["message"]
    assert error["details"]["valid_values"] == list(load_chip_table())


def test_estimate_other_kinds(client):
    r = client.post("/api/v1/estimates", json={"workload": {"kind": "gpu_hours", "gpu_hours": 100,
                                                            "reference_chip": "A100"}, "chip": "910B", "count": 4})
    assert r.status_code == 200 and r.json()["estimate"]["hours"] > 0
    r = client.post("/api/v1/estimates", json={"workload": {"kind": "cpu", "core_hours": 64, "memory_gib": 8},
                                               "count": 16})
    assert r.status_code == 200 and r.json()["estimate"]["hours"] == 4
    r = client.post("/api/v1/estimates", json={"workload": {"kind": "llm_inference", "params_b": 7,
                                                            "target_tokens_per_s": 100}, "chip": "4090", "count": 1})
    assert r.status_code == 200 and r.json()["estimate"]["tokens_per_s"] > 0
    # a bound the schema states: validation_error naming the field (without the kind pydantic puts in the path)
    r = client.post("/api/v1/estimates", json={"workload": {**LORA_7B, "tokens": 0}, "chip": "a800"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    assert [e["field"] for e in r.json()["error"]["details"]["errors"]] == ["workload.tokens"]
    # a rule across fields stays the core's: invalid_workload naming the field
    r = client.post("/api/v1/estimates", json={"workload": {**LORA_7B, "dataset_tokens": 10**6, "epochs": 2},
                                               "chip": "a800"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_workload"
    assert r.json()["error"]["details"]["field"] == "workload.tokens"


@pytest.mark.parametrize(("workload", "field"), [
    ({"kind": "dl_training", "model": "resnet50", "epochs": MAX_EPOCHS + 1}, "epochs"),
    ({"kind": "dl_training", "model": "resnet50", "epochs": 10**9}, "epochs"),
    ({"kind": "llm_inference", "params_b": math.nextafter(MAX_PARAMS_B, math.inf)}, "params_b"),
    ({"kind": "llm_inference", "params_b": 7, "context_len": MAX_SEQ + 1}, "context_len"),
    ({"kind": "llm_finetune", "params_b": 7, "tokens": 10**8, "lora_rank": 0}, "lora_rank"),
    ({"kind": "gpu_hours", "gpu_hours": 10, "reference_chip": "a100", "precision": "fp64"}, "precision"),
    ({"kind": "cpu", "core_hours": 10, "memory_gib": 0}, "memory_gib"),
])
def test_a_value_just_outside_a_bound_the_schema_states_is_a_validation_error_naming_it(client, workload, field):
    r = client.post("/api/v1/estimates", json={"workload": workload, "chip": "a100"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert [e["field"] for e in error["details"]["errors"]] == [f"workload.{field}"]
    assert f"workload.{field}: " in error["message"]


def test_dl_training_estimate_gives_samples_per_second_range_utilisation_and_bottleneck(client):
    body = {"workload": {"kind": "dl_training", "model": "resnet50", "precision": "amp", "batch_size": 256,
                         "samples": 1_281_167, "epochs": 1, "servers": 2},
            "chip": "A100 40GB", "count": 16}
    r = client.post("/api/v1/estimates", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    est = data["estimate"]
    assert data["chip"]["key"] == "a100-40gb"
    assert est["samples_per_s_low"] < est["samples_per_s"] < est["samples_per_s_high"]
    assert est["samples_per_s_range"]["central"] == est["samples_per_s"] and est["sample_unit"] == "image"
    assert est["hours"] == pytest.approx(1_281_167 / est["samples_per_s"] / 3600)
    assert 0 < est["mfu"] < 1 and est["servers"] == 2 and est["batch_per_device"] == 256
    assert est["bottleneck"] in ("compute", "memory_bandwidth", "interconnect", "overhead")
    assert set(est["step_time_ms"]) == {"total", "compute", "memory_bandwidth", "overhead", "interconnect"}
    assert any("80% of held-out" in n for n in est["notes"])
    # throughput only: no samples, no hours
    body["workload"] = {"kind": "dl_training", "flops_per_sample": 2.45e10, "params_m": 25.6, "batch_size": 64,
                        "precision": "mixed"}
    est = client.post("/api/v1/estimates", json={**body, "count": 1}).json()["estimate"]
    assert est["hours"] is None and est["samples_per_s"] > 0
    body["workload"]["architecture"] = "lstm"
    est = client.post("/api/v1/estimates", json={**body, "count": 1}).json()["estimate"]
    assert any("recurrent networks: no class factor" in n for n in est["notes"])


@pytest.mark.parametrize(("workload", "expected"), [
    ({"kind": "llm_finetune", "params_b": 7, "tokens": 10**8, "flops_per_sample": 7e10},
     "belong(s) to kind=dl_training"),
    ({"flops_per_sample": 7.36e10, "samples": 1000}, "suggest kind=dl_training"),
    ({"kind": "dl_training", "flops_per_sample": 73.6, "samples": 1000}, "GFLOPs"),
    ({"kind": "dl_training", "model": "alexnet9000"}, "known models"),
    ({"kind": "dl_training", "flops_per_sample": 7.36e10, "architecture": "capsule"}, "architecture: must be one of"),
])
def test_wrong_kinds_and_units_get_a_suggestion(client, workload, expected):
    r = client.post("/api/v1/estimates", json={"workload": workload, "chip": "a100"})
    assert r.status_code == 422, r.text
    assert expected in r.text


def test_dl_training_recommendations_need_samples_and_show_their_range(client, catalog):
    workload = {"kind": "dl_training", "model": "resnet50", "precision": "amp", "batch_size": 256}
    r = _recommend(client, workload=workload)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "workload.samples"
    r = _recommend(client, workload={**workload, "samples": 1_281_167, "epochs": 10})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items
    for item in items:
        rate = item["samples_per_s"]
        assert rate["low"] < rate["central"] < rate["high"]
        assert item["bottleneck"] in ("compute", "memory_bandwidth", "interconnect", "overhead")
        assert 0 < item["mfu"] < 1
    # a stated data-pipeline rate caps every option
    r = _recommend(client, workload={**workload, "samples": 1_281_167, "epochs": 10, "input_samples_per_s": 300})
    assert r.status_code == 200, r.text
    for item in r.json()["items"]:
        assert item["bottleneck"] == "input_pipeline" and item["samples_per_s"]["high"] <= 300 * item["units"]


def test_dl_training_takes_other_names_for_topology_batch_and_parameters(client):
    body = {"workload": {"kind": "dl_training", "flops_per_sample": 2.45e10, "params": 25.6e6, "nodes": 2,
                         "gpus_per_node": 4, "per_device_batch_size": 64, "precision": "amp"},
            "chip": "T4", "count": 8}
    est = client.post("/api/v1/estimates", json=body).json()["estimate"]
    assert est["servers"] == 2 and est["batch_per_device"] == 64
    assert not any("parameters not given" in n for n in est["notes"])
