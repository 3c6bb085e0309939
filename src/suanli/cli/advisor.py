"""Advisor commands: `suanli estimate` (a workload on a named chip), `suanli advise` (ranked configurations from
the live catalog; `--launch RANK` submits one as a job) and `suanli templates list/show`. Through the API, like every
command; only launching needs a login."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.table import Table

from suanli.cli.main import ApiUrl, AsJson, api, app, cny, console, fail, print_json

templates_app = typer.Typer(help="One-stop workload templates: environment, command, parameters, smoke version.",
                            no_args_is_help=True)
app.add_typer(templates_app, name="templates")

Kind = Annotated[str | None, typer.Option(
    "--kind", help="llm_finetune, llm_pretrain, llm_inference, dl_training, gpu_hours or cpu (default: the kind the "
                   "other options belong to, else llm_finetune)")]
Opt = typer.Option

#: The kind an option implies when --kind is not given (the first that matches wins).
KIND_HINTS = (("dl_training", ("model", "flops_per_sample", "samples", "params_m", "batch_size", "image_size",
                               "servers", "gpus_per_server", "network_gbps", "model_memory_gib", "architecture",
                               "input_samples_per_s")),
              ("llm_inference", ("context_len", "target_tokens_per_s", "concurrency")),
              ("gpu_hours", ("gpu_hours", "reference_chip")), ("cpu", ("core_hours",)))


def _kind(kind: str | None, values: dict[str, Any]) -> str:
    """The kind given, else the kind the options imply, else llm_finetune when --params-b is given; fails with the
    choices when nothing says what to estimate."""
    if kind:
        return kind
    for candidate, names in KIND_HINTS:
        if any(values.get(name) is not None for name in names):
            return candidate
    if values.get("precision") in ("tf32", "amp", "mixed"):
        return "dl_training"
    if values.get("params_b") is None:
        fail("Say what to estimate: a deep-learning training job with --kind dl_training and --model (e.g. resnet50) "
             "or --flops-per-sample and --params-m; an LLM with --params-b (--kind llm_finetune, llm_pretrain or "
             "llm_inference); or --kind gpu_hours / cpu.")
    return "llm_finetune"


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


def _rate(r: float | None) -> str:
    return "—" if r is None else (f"{r:,.0f}" if r >= 100 else f"{r:.3g}")


WORKLOAD_OPTIONS = """method params_b tokens seq_len precision micro_batch lora_rank context_len target_tokens_per_s
concurrency flops_per_sample samples epochs model_memory_gib gpu_hours reference_chip core_hours memory_gib model
params_m batch_size image_size servers gpus_per_server network_gbps architecture input_samples_per_s optimizer
master_weights optimizer_in_backward cpu_offload gradient_checkpointing""".split()


# The workload options, shared by `estimate` and `advise` (their names are WORKLOAD_OPTIONS); each says its unit.
Method = Annotated[str | None, Opt(help="llm_finetune: full, lora or qlora")]
ParamsB = Annotated[float | None, Opt("--params-b", help="Model parameters, billions (LLM kinds; dl_training too)")]
Tokens = Annotated[int | None, Opt(help="LLM training tokens, summed over epochs")]
SeqLen = Annotated[int | None, Opt("--seq-len", help="Sequence length, tokens (LLM kinds; with --model, rescales "
                                                      "its FLOPs)")]
Precision = Annotated[str | None, Opt(help="LLM: bf16, fp16, fp32, fp8 (inference also int8, int4); dl_training: "
                                           "fp32, tf32, amp (mixed precision; also mixed, fp16, bf16)")]
MicroBatch = Annotated[int | None, Opt("--micro-batch", help="LLM training: sequences per device per step")]
LoraRank = Annotated[int | None, Opt("--lora-rank", help="LoRA adapter rank")]
ContextLen = Annotated[int | None, Opt("--context-len", help="llm_inference: tokens one sequence holds")]
TargetTokensPerS = Annotated[float | None, Opt("--target-tokens-per-s", help="llm_inference: generated tokens/s "
                                                                              "the deployment must reach")]
Concurrency = Annotated[int | None, Opt(help="llm_inference: sequences in flight")]
FlopsPerSample = Annotated[float | None, Opt(
    "--flops-per-sample", help="dl_training: TRAINING FLOPs per sample (forward + backward), unit FLOPs (not "
                               "GFLOPs): about 6 x the forward multiply-adds a model card calls 'GFLOPs' (ResNet-50: "
                               "4.1 GMACs -> 6 x 4.1e9 = 2.45e10)")]
Samples = Annotated[int | None, Opt(help="dl_training: samples per epoch (without it: samples/s only)")]
Epochs = Annotated[int | None, Opt(help="dl_training: passes over the samples")]
ModelMemoryGib = Annotated[float | None, Opt("--model-memory-gib", help="dl_training: GiB one device needs")]
GpuHours = Annotated[float | None, Opt("--gpu-hours", help="gpu_hours: device-hours the job took on "
                                                           "--reference-chip")]
ReferenceChip = Annotated[str | None, Opt("--reference-chip", help="gpu_hours: the chip those hours were measured "
                                                                   "on")]
CoreHours = Annotated[float | None, Opt("--core-hours", help="cpu: CPU core-hours of work")]
MemoryGib = Annotated[float | None, Opt("--memory-gib", help="cpu: GiB of RAM the job needs")]
Model = Annotated[str | None, Opt(help="dl_training: a reference model instead of --flops-per-sample (resnet50, "
                                       "resnet18, resnet18_cifar, resnet152, inception_v3, vgg16, alexnet, ssd300, bert_base, bert_large, gnmt, ncf, "
                                       "transformerxl_base, transformerxl_large, tacotron2, waveglow, gpt2)")]
ParamsM = Annotated[float | None, Opt("--params-m", help="dl_training: model parameters, millions")]
BatchSize = Annotated[int | None, Opt("--batch-size", help="dl_training: samples per device per step")]
ImageSize = Annotated[int | None, Opt("--image-size", help="dl_training with --model: input side, pixels")]
Servers = Annotated[int | None, Opt(help="dl_training: servers the devices are spread over (default 8 per server)")]
GpusPerServer = Annotated[int | None, Opt("--gpus-per-server", help="dl_training: devices per server")]
NetworkGbps = Annotated[float | None, Opt("--network-gbps", help="dl_training: network per server, Gb/s")]
Architecture = Annotated[str | None, Opt(help="dl_training: cnn, transformer, rnn (lstm, gru), recommendation, gan "
                                              "or speech (a --model brings its own)")]
InputSamplesPerS = Annotated[float | None, Opt("--input-samples-per-s", help="dl_training: samples/s one server's "
                                                                             "data pipeline delivers (a cap)")]
Optimizer = Annotated[str | None, Opt(help="LLM training: adamw (8 bytes/parameter of moments), adamw8bit (2) or "
                                           "paged_adamw8bit (2, spills to host memory)")]
MasterWeights = Annotated[bool | None, Opt("--master-weights/--no-master-weights",
                                           help="LLM training: keep an FP32 master copy (4 bytes/parameter)")]
OptimizerInBackward = Annotated[bool | None, Opt("--optimizer-in-backward/--no-optimizer-in-backward",
                                                 help="LLM training: step each layer in the backward pass (no "
                                                      "stored gradients)")]
CpuOffload = Annotated[bool | None, Opt("--cpu-offload/--no-cpu-offload",
                                        help="LLM training: optimizer, master weights and gradients in host memory")]
GradientCheckpointing = Annotated[bool | None, Opt("--gradient-checkpointing/--no-gradient-checkpointing",
                                                   help="LLM training: recompute activations (default on)")]


RISK_LABELS = {"low": "[green]low[/]", "medium": "[yellow]medium[/]", "high": "[red]high[/]"}


def _billing(quote: dict) -> str:
    """The advised mode with the terms an order of it uses (spot: the bid; reserved: the term)."""
    if quote["mode"] == "spot":
        return f"spot, bid {cny(quote['bid_hour'])}/h"
    if quote["mode"] == "reserved":
        return f"reserved {quote['term_months']} mo"
    return quote["mode"]


def _print_best_by_chip(best: list[dict]) -> None:
    """The cheapest feasible option of every chip, so other makers show even when one chip fills the top."""
    if len(best) < 2:
        return
    table = Table(title="Best option per chip (launch one with --launch RANK)")
    for column in ("rank", "chip", "ecosystem", "units × product", "hours", "deadline risk", "cost", "billing"):
        table.add_column(column, justify="right" if column in ("rank", "hours", "cost") else "left")
    for row in best:
        chip = row["chip"]
        table.add_row(str(row["rank"]), chip["name"] + (" (domestic)" if chip["domestic"] else ""), chip["ecosystem"],
                      f"{row['units']} × {row['product_name']}", _hours(row["hours_central"]),
                      RISK_LABELS[row["deadline_risk"]], cny(row["cost_central"]), row["billing_mode"])
    console.print(table)


@app.command("estimate")
def estimate_cmd(
        kind: Kind = None,
        chip: Annotated[str | None, Opt(help="Chip, e.g. A800, 910B, 4090, 'A100 40GB' (`suanli chips`)")] = None,
        count: Annotated[int, Opt(min=1, max=4096, help="Accelerators (vCPUs for --kind cpu)")] = 1,
        method: Method = None, params_b: ParamsB = None, tokens: Tokens = None, seq_len: SeqLen = None,
        precision: Precision = None, micro_batch: MicroBatch = None, lora_rank: LoraRank = None,
        context_len: ContextLen = None, target_tokens_per_s: TargetTokensPerS = None, concurrency: Concurrency = None,
        flops_per_sample: FlopsPerSample = None, samples: Samples = None, epochs: Epochs = None,
        model_memory_gib: ModelMemoryGib = None, gpu_hours: GpuHours = None, reference_chip: ReferenceChip = None,
        core_hours: CoreHours = None, memory_gib: MemoryGib = None, model: Model = None, params_m: ParamsM = None,
        batch_size: BatchSize = None, image_size: ImageSize = None, servers: Servers = None,
        gpus_per_server: GpusPerServer = None, network_gbps: NetworkGbps = None, architecture: Architecture = None,
        input_samples_per_s: InputSamplesPerS = None, optimizer: Optimizer = None,
        master_weights: MasterWeights = None, optimizer_in_backward: OptimizerInBackward = None,
        cpu_offload: CpuOffload = None, gradient_checkpointing: GradientCheckpointing = None,
        api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Estimate a workload on COUNT devices of a chip: memory fit, hours and samples/s (low/central/high), FLOPs
    utilisation, bottleneck."""
    values = {k: v for k, v in locals().items() if k in WORKLOAD_OPTIONS}
    kind = _kind(kind, values)
    data = _post(api_url, "/api/v1/estimates", {"workload": _workload(kind, **values), "chip": chip, "count": count})
    if as_json:
        print_json(data)
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
    if est.get("samples_per_s") is not None:
        unit = est.get("sample_unit") or "sample"
        table.add_row(f"{unit}s/s (low / central / high)", f"{_rate(est['samples_per_s_low'])} / "
                      f"{_rate(est['samples_per_s'])} / {_rate(est['samples_per_s_high'])}")
        step = est.get("step_time_ms") or {}
        if step:
            table.add_row("ms per step", f"{step.get('total', 0):.1f} (batch {est['batch_per_device']} per device)")
            for part in ("compute", "memory_bandwidth", "overhead", "interconnect"):
                table.add_row(f"  {part}", f"{step.get(part, 0):.1f} ms")
    if est.get("mfu") is not None:
        table.add_row("FLOPs utilisation", f"{est['mfu']:.0%} of peak")
    table.add_row("bottleneck", est["bottleneck"])
    console.print(table)
    if est.get("samples_per_s") is not None or est["hours"] is not None:
        console.print("[dim]The low–high range holds about 80% of held-out measurements (docs/benchmarks.md).[/]")
    for note in est["notes"]:
        console.print(f"[dim]· {note}[/]")


@app.command("advise")
def advise_cmd(
        kind: Kind = None,
        deadline_hours: Annotated[float, Opt("--deadline-hours", help="Must finish within (central estimate)")] = 24,
        budget: Annotated[str | None, Opt(help="Most to spend, CNY (e.g. 2000)")] = None,
        ecosystems: Annotated[str, Opt(help="Comma-separated: cuda,cann,dtk,neuware,xpu")] = "cuda,cann,dtk,neuware,xpu",
        provinces: Annotated[str | None, Opt(help="Comma-separated provinces, e.g. 安徽,贵州")] = None,
        limit: Annotated[int, Opt(min=1, max=100, help="How many configurations to list")] = 10,
        method: Method = None, params_b: ParamsB = None, tokens: Tokens = None, seq_len: SeqLen = None,
        precision: Precision = None, micro_batch: MicroBatch = None, lora_rank: LoraRank = None,
        context_len: ContextLen = None, target_tokens_per_s: TargetTokensPerS = None, concurrency: Concurrency = None,
        flops_per_sample: FlopsPerSample = None, samples: Samples = None, epochs: Epochs = None,
        model_memory_gib: ModelMemoryGib = None, gpu_hours: GpuHours = None, reference_chip: ReferenceChip = None,
        core_hours: CoreHours = None, memory_gib: MemoryGib = None, model: Model = None, params_m: ParamsM = None,
        batch_size: BatchSize = None, image_size: ImageSize = None, servers: Servers = None,
        gpus_per_server: GpusPerServer = None, network_gbps: NetworkGbps = None, architecture: Architecture = None,
        input_samples_per_s: InputSamplesPerS = None, optimizer: Optimizer = None,
        master_weights: MasterWeights = None, optimizer_in_backward: OptimizerInBackward = None,
        cpu_offload: CpuOffload = None, gradient_checkpointing: GradientCheckpointing = None,
        launch: Annotated[int | None, Opt("--launch", min=1, help="Submit option RANK as a job (needs `suanli "
                                                                  "login`)")] = None,
        template: Annotated[str | None, Opt(help="With --launch: a template id (`suanli templates list`)")] = None,
        param: Annotated[list[str] | None, Opt("--param", help="With --launch: template parameter NAME=VALUE "
                                                               "(repeatable)")] = None,
        data_files: Annotated[list[str] | None, Opt("--data", help="With --launch: a data file for the job, e.g. "
                                                             "train.jsonl (repeatable)")] = None,
        smoke: Annotated[bool, Opt("--smoke", help="With --launch: run the template's seconds-long smoke "
                                                   "version")] = False,
        api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Ranked configurations from the live catalog that finish a workload by the deadline within the budget."""
    values = {k: v for k, v in locals().items() if k in WORKLOAD_OPTIONS}
    values.pop("servers", None)  # each recommended unit is a server
    kind = _kind(kind, values)
    body: dict[str, Any] = {"workload": _workload(kind, **values), "deadline_hours": deadline_hours,
                            "budget_cny": budget, "limit": limit,
                            "ecosystems": [e.strip() for e in ecosystems.split(",") if e.strip()]}
    if provinces:
        body["provinces"] = [p.strip() for p in provinces.split(",") if p.strip()]
    if launch is not None:
        _launch(api_url, as_json, body, launch, template, param or [], data_files or [], smoke)
        return
    if template or param or data_files or smoke:
        fail("--template, --param, --data and --smoke go with --launch RANK.")
    data = _post(api_url, "/api/v1/recommendations", body)
    if as_json:
        print_json(data)
        return
    items = data["items"]
    if items:
        table = Table(title=f"{len(items)} of {data['total_feasible']} feasible configurations, cheapest first")
        for column in ("#", "chip", "units × product", "cards", "city", "hours (low–high)", "deadline risk", "cost",
                       "cost high", "bottleneck", "billing"):
            table.add_column(column, justify="right" if column in ("#", "cards", "cost", "cost high") else "left")
        for n, item in enumerate(items, 1):
            p, h = item["product"], item["hours"]
            table.add_row(str(n), p["chip"]["key"] if p["chip"] else "cpu", f"{item['units']} × {p['name']}",
                          str(item["accelerators"]), p["city"],
                          f"{_hours(h['central'])} ({_hours(h['low'])}–{_hours(h['high'])})",
                          RISK_LABELS[item["deadline_risk"]], cny(item["cost"]["central"]), cny(item["cost"]["high"]),
                          item["bottleneck"], _billing(item["billing"]["quote"]))
        console.print(table)
        console.print("[dim]hours low–high: the range holds about 80% of held-out measurements.[/]")
        for n, item in enumerate(items, 1):
            console.print(f"[bold]{n}.[/] {item['reason']} [dim]Billing: {item['billing']['reason']}.[/]")
            if item["ecosystem"] and item["ecosystem"]["key"] != "cuda":
                console.print(f"   [yellow]{item['ecosystem']['name']}:[/] {item['ecosystem']['adaptation']}")
        _print_best_by_chip(data["best_by_chip"])
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


def _launch(api_url: str | None, as_json: bool, body: dict[str, Any], rank: int, template: str | None,
            params: list[str], data_files: list[str], smoke: bool) -> None:
    parameters: dict[str, str] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(f"--param {item!r}: write it as NAME=VALUE, e.g. --param lora_rank=8.")
        parameters[name.strip().replace("-", "_")] = value
    files: dict[str, str] = {}
    for path in data_files:
        try:
            with open(path, encoding="utf-8") as handle:
                files[os.path.basename(path)] = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--data {path}: cannot read it as text ({exc}).")
    body.update(rank=rank, parameters=parameters, files=files, smoke=smoke)
    if template:
        body["template_id"] = template
    out = _post(api_url, "/api/v1/recommendations/launch", body)
    if as_json:
        print_json(out)
        return
    job, item = out["job"], out["recommendation"]
    console.print(f"[green]Launched option {out['rank']}[/] as job [bold]{job['id']}[/] ({job['state']}): "
                  f"{item['units']} × {item['product']['name']} in {item['product']['datacenter']['name']}")
    console.print(f"template {out['template']['id']}{' (smoke version)' if out['smoke'] else ''}: "
                  f"{job['command']}")
    console.print(f"mode {job['mode']}, at most {job['max_runtime_minutes']} min, estimated "
                  f"{_hours(item['hours']['central'])} h and {cny(item['cost']['central'])}")
    for note in out["notes"]:
        console.print(f"[dim]· {note}[/]")
    console.print(f"Follow it with `suanli jobs show {job['id']}` and `suanli jobs logs {job['id']}`.")


@templates_app.command("list")
def templates_list(
        ecosystem: Annotated[str | None, Opt(help="cuda, cann, dtk or cpu")] = None,
        kind: Annotated[str | None, Opt(help="finetune, serving, batch_inference or hpc")] = None,
        api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Ready workloads per ecosystem."""
    params = {k: v for k, v in {"ecosystem": ecosystem, "kind": kind}.items() if v is not None}
    items = api(api_url, "GET", "/api/v1/templates", **params)
    if as_json:
        print_json(items)
        return
    table = Table(title=f"{len(items)} templates")
    for column in ("id", "kind", "ecosystem", "image", "title"):
        table.add_column(column)
    for t in items:
        table.add_row(t["id"], t["kind"], t["ecosystem"] or "cpu", t["environment"]["image"], t["title"])
    console.print(table)


@templates_app.command("show")
def templates_show(template_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """A template: environment, parameters, command and smoke command."""
    t = api(api_url, "GET", f"/api/v1/templates/{template_id}")
    if as_json:
        print_json(t)
        return
    console.print(f"[bold]{t['id']}[/]: {t['title']}\n{t['description']}")
    console.print(f"image: {t['environment']['image']}\npip: {' '.join(t['environment']['pip'])}\n"
                  f"[dim]{t['environment']['notes']}[/]")
    table = Table(title="parameters (--param NAME=VALUE with `suanli advise --launch`)")
    for column in ("name", "type", "default", "allowed", "help"):
        table.add_column(column)
    for p in t["parameters"]:
        allowed = ", ".join(p["choices"]) if p["choices"] else (
            f"{p['minimum']:g} … {p['maximum']:g}" if p["minimum"] is not None and p["maximum"] is not None else "")
        table.add_row(p["name"], p["type"], str(p["default"]), allowed, p["help"])
    console.print(table)
    console.print(f"command: {t['command']}\nsmoke:   {t['smoke_command']}\nfiles:   {', '.join(t['files'])}")
