"""Advisor commands: `suanli estimate` (a workload on a named chip) and `suanli advise` (ranked configurations from
the live catalog). Through the API, like every command; no login needed."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from suanli.cli.main import ApiUrl, AsJson, api, app, cny, console

Kind = Annotated[str, typer.Option("--kind", help="llm_finetune, llm_pretrain, llm_inference, dl_training, "
                                                  "gpu_hours or cpu")]
Opt = typer.Option


def _workload(kind: str, **values: Any) -> dict[str, Any]:
    body = {"kind": kind}
    body.update({k: v for k, v in values.items() if v is not None})
    if kind != "llm_finetune":
        body.pop("method", None)
        body.pop("lora_rank", None)
    return body


def _post(api_url: str | None, path: str, body: dict[str, Any]) -> Any:
    return api(api_url, "POST", path, json=body)


def _hours(h: float | None) -> str:
    return "—" if h is None else (f"{h:.2f}" if h < 10 else f"{h:,.1f}")


WORKLOAD_OPTIONS = """method params_b tokens seq_len precision micro_batch lora_rank context_len target_tokens_per_s
concurrency flops_per_sample samples epochs model_memory_gib gpu_hours reference_chip core_hours memory_gib""".split()


@app.command("estimate")
def estimate_cmd(
        kind: Kind = "llm_finetune",
        chip: Annotated[str | None, Opt(help="Chip, e.g. A800, 910B, 4090 (`suanli chips`)")] = None,
        count: Annotated[int, Opt(min=1, max=4096, help="Accelerators (vCPUs for --kind cpu)")] = 1,
        method: Annotated[str | None, Opt(help="full, lora or qlora (llm_finetune)")] = None,
        params_b: Annotated[float | None, Opt("--params-b", help="Model parameters, billions")] = None,
        tokens: Annotated[int | None, Opt(help="Training tokens, summed over epochs")] = None,
        seq_len: Annotated[int | None, Opt("--seq-len")] = None,
        precision: Annotated[str | None, Opt()] = None,
        micro_batch: Annotated[int | None, Opt("--micro-batch")] = None,
        lora_rank: Annotated[int | None, Opt("--lora-rank")] = None,
        context_len: Annotated[int | None, Opt("--context-len")] = None,
        target_tokens_per_s: Annotated[float | None, Opt("--target-tokens-per-s")] = None,
        concurrency: Annotated[int | None, Opt()] = None,
        flops_per_sample: Annotated[float | None, Opt("--flops-per-sample")] = None,
        samples: Annotated[int | None, Opt()] = None,
        epochs: Annotated[int | None, Opt()] = None,
        model_memory_gib: Annotated[float | None, Opt("--model-memory-gib")] = None,
        gpu_hours: Annotated[float | None, Opt("--gpu-hours")] = None,
        reference_chip: Annotated[str | None, Opt("--reference-chip")] = None,
        core_hours: Annotated[float | None, Opt("--core-hours")] = None,
        memory_gib: Annotated[float | None, Opt("--memory-gib")] = None,
        api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Estimate a workload on COUNT devices of a chip: memory fit, hours (low/central/high), bottleneck."""
    values = {k: v for k, v in locals().items() if k in WORKLOAD_OPTIONS}
    data = _post(api_url, "/api/v1/estimates", {"workload": _workload(kind, **values), "chip": chip, "count": count})
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    est = data["estimate"]
    where = f"{count} × {data['chip']['name']}" if data["chip"] else f"{count} vCPUs"
    table = Table(title=f"{kind} on {where}")
    table.add_column("")
    table.add_column("value", justify="right")
    fits = est["fits_in_memory"]
    table.add_row("fits in memory", "unknown" if fits is None else ("yes" if fits else "[red]no[/]"))
    if est["memory_needed_gib"] is not None:
        table.add_row("memory per device", f"{est['memory_needed_gib']:.1f} / {est['memory_available_gib']:g} GiB")
    for part, gib in est["memory_breakdown_gib"].items():
        if gib:
            table.add_row(f"  {part}", f"{gib:.1f} GiB")
    if est["hours"] is not None:
        table.add_row("hours (low / central / high)",
                      f"{_hours(est['hours_low'])} / {_hours(est['hours'])} / {_hours(est['hours_high'])}")
    if est["tokens_per_s"] is not None:
        table.add_row("tokens/s", f"{est['tokens_per_s']:,.0f}")
    table.add_row("bottleneck", est["bottleneck"])
    console.print(table)
    for note in est["notes"]:
        console.print(f"[dim]· {note}[/]")


@app.command("advise")
def advise_cmd(
        kind: Kind = "llm_finetune",
        deadline_hours: Annotated[float, Opt("--deadline-hours", help="Must finish within (central estimate)")] = 24,
        budget: Annotated[str | None, Opt(help="Most to spend, CNY (e.g. 2000)")] = None,
        ecosystems: Annotated[str, Opt(help="Comma-separated: cuda,cann,dtk,neuware,xpu")] = "cuda,cann,dtk,neuware,xpu",
        provinces: Annotated[str | None, Opt(help="Comma-separated provinces, e.g. 安徽,贵州")] = None,
        limit: Annotated[int, Opt(min=1, max=100)] = 10,
        method: Annotated[str | None, Opt(help="full, lora or qlora (llm_finetune)")] = None,
        params_b: Annotated[float | None, Opt("--params-b", help="Model parameters, billions")] = None,
        tokens: Annotated[int | None, Opt(help="Training tokens, summed over epochs")] = None,
        seq_len: Annotated[int | None, Opt("--seq-len")] = None,
        precision: Annotated[str | None, Opt()] = None,
        micro_batch: Annotated[int | None, Opt("--micro-batch")] = None,
        lora_rank: Annotated[int | None, Opt("--lora-rank")] = None,
        context_len: Annotated[int | None, Opt("--context-len")] = None,
        target_tokens_per_s: Annotated[float | None, Opt("--target-tokens-per-s")] = None,
        concurrency: Annotated[int | None, Opt()] = None,
        flops_per_sample: Annotated[float | None, Opt("--flops-per-sample")] = None,
        samples: Annotated[int | None, Opt()] = None,
        epochs: Annotated[int | None, Opt()] = None,
        model_memory_gib: Annotated[float | None, Opt("--model-memory-gib")] = None,
        gpu_hours: Annotated[float | None, Opt("--gpu-hours")] = None,
        reference_chip: Annotated[str | None, Opt("--reference-chip")] = None,
        core_hours: Annotated[float | None, Opt("--core-hours")] = None,
        memory_gib: Annotated[float | None, Opt("--memory-gib")] = None,
        api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Ranked configurations from the live catalog that finish a workload by the deadline within the budget."""
    values = {k: v for k, v in locals().items() if k in WORKLOAD_OPTIONS}
    body: dict[str, Any] = {"workload": _workload(kind, **values), "deadline_hours": deadline_hours,
                            "budget_cny": budget, "limit": limit,
                            "ecosystems": [e.strip() for e in ecosystems.split(",") if e.strip()]}
    if provinces:
        body["provinces"] = [p.strip() for p in provinces.split(",") if p.strip()]
    data = _post(api_url, "/api/v1/recommendations", body)
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    items = data["items"]
    if items:
        table = Table(title=f"{len(items)} of {data['total_feasible']} feasible configurations, cheapest first")
        for column in ("#", "chip", "units × product", "cards", "city", "hours (low–high)", "cost", "cost high",
                       "billing"):
            table.add_column(column, justify="right" if column in ("#", "cards", "cost", "cost high") else "left")
        for n, item in enumerate(items, 1):
            p, h = item["product"], item["hours"]
            table.add_row(str(n), p["chip"]["key"] if p["chip"] else "cpu", f"{item['units']} × {p['name']}",
                          str(item["accelerators"]), p["city"],
                          f"{_hours(h['central'])} ({_hours(h['low'])}–{_hours(h['high'])})",
                          cny(item["cost"]["central"]), cny(item["cost"]["high"]), item["billing"]["mode"])
        console.print(table)
        for n, item in enumerate(items, 1):
            console.print(f"[bold]{n}.[/] {item['reason']} [dim]Billing: {item['billing']['reason']}.[/]")
            if item["ecosystem"] and item["ecosystem"]["key"] != "cuda":
                console.print(f"   [yellow]{item['ecosystem']['name']}:[/] {item['ecosystem']['adaptation']}")
        return
    console.print("[yellow]No configuration fits the deadline and budget.[/]")
    why = data["why_not"] or {}
    console.print("candidates failing: " + ", ".join(f"{k} {v}" for k, v in why.items() if v))
    s = data["suggestions"] or {}
    if s.get("min_budget_cny") is not None:
        console.print(f"· a budget of ¥{s['min_budget_cny']} would meet the {deadline_hours:g} h deadline")
    if s.get("min_deadline_hours") is not None:
        console.print(f"· a deadline of {s['min_deadline_hours']} h would fit the budget")
    if s.get("best_candidate"):
        b = s["best_candidate"]
        console.print(f"· best candidate: {b['units']} × {b['product_name']} needs {b['needs_deadline_hours']} h and "
                      f"¥{b['needs_budget_cny']}")
    if s.get("ecosystems"):
        console.print(f"· allowing {', '.join(s['ecosystems'])} would give feasible options")
