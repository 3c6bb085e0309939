"""Advisor response models: what POST /estimates and POST /recommendations return (documented in the OpenAPI
schema). Money is ``{fen, cny}`` (``cny`` a decimal string); hours are floats; memory is GiB per device. Every
sentence comes in English (``reason``, ``notes``) and as a translatable message next to it (``reason_message``,
``note_messages``: :class:`MessageOut`)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from suanli.catalog.schemas import Money
from suanli.jobs.schemas import JobOut

BillingMode = Literal["on_demand", "reserved", "spot"]


class MessageOut(BaseModel):
    """A sentence to translate: ``msg`` is its English template with ``%(name)s`` placeholders, ``args`` their
    values (text and pre-formatted numbers, shown as they are; or a nested message, or a list of them, translated in
    turn). ``msg % args`` (every nested message rendered first) is the English text given next to it."""

    msg: str = Field(description="English template, e.g. \"tensor parallel %(tp)s with sequence parallelism ...\".")
    args: dict[str, Any] = Field(description="Placeholder values: text, numbers, or nested {msg, args} (or lists).")


class ChipBrief(BaseModel):
    key: str
    name: str
    vendor: str
    ecosystem: str
    domestic: bool
    memory_gib: float
    fp16_tflops: float


class EcosystemInfo(BaseModel):
    key: str
    name: str
    name_zh: str
    vendor: str
    frameworks: list[str]
    adaptation: str = Field(description="What it takes to run a PyTorch/CUDA workload on this ecosystem.")


class HoursRange(BaseModel):
    low: float
    central: float
    high: float


class EstimateDetail(BaseModel):
    workload_kind: str
    chip_key: str | None
    count: int
    bottleneck: Literal["compute", "memory_bandwidth", "memory_capacity", "interconnect", "overhead",
                        "input_pipeline"] = Field(
        description="What limits the estimate: compute, memory_bandwidth, memory_capacity (does not fit), "
                    "interconnect (communication between devices), overhead (the fixed cost of every step), "
                    "input_pipeline (the data pipeline's stated samples/s).")
    fits_in_memory: bool | None = Field(description="None when the workload carries no memory model.")
    memory_needed_gib: float | None = Field(description="Per device.")
    memory_available_gib: float | None
    memory_breakdown_gib: dict[str, float] = Field(description="weights, gradients, optimizer, activations, "
                                                               "kv_cache, overhead (GiB per device).")
    total_flops: float | None = Field(description="Model FLOPs (training).")
    executed_flops: float | None = Field(description="Model FLOPs plus recomputation and dequantisation.")
    hours: float | None = Field(description="Central wall-clock hours on the whole allocation (None for serving).")
    hours_low: float | None
    hours_high: float | None
    hours_range: HoursRange | None
    mfu: float | None
    tokens_per_s: float | None = Field(description="Serving: generated tokens/s of the deployment.")
    tokens_per_s_low: float | None
    tokens_per_s_high: float | None
    target_tokens_per_s: float | None
    meets_target: bool | None
    ms_per_token: float | None
    ttft_ms: float | None
    meets_latency: bool | None
    devices_needed: int | None
    tensor_parallel: int | None
    replicas: int | None
    samples_per_s: float | None = Field(None, description="Generic training: samples/s of the whole allocation "
                                        "(in sample_unit: images, sequences, tokens, ...).")
    samples_per_s_low: float | None = None
    samples_per_s_high: float | None = None
    samples_per_s_range: HoursRange | None = Field(None, description="low/central/high samples/s; the range holds "
                                                   "about 80% of held-out measurements.")
    sample_unit: str | None = None
    step_time_ms: dict[str, float] = Field(default_factory=dict, description="Generic training: milliseconds per "
                                           "step (total) and by part: compute, memory_bandwidth, overhead, "
                                           "interconnect (exposed communication).")
    batch_per_device: int | None = None
    servers: int | None = None
    notes: list[str]
    note_messages: list[MessageOut] = Field(description="The notes as translatable messages, in the same order.")


class EstimateOut(BaseModel):
    chip: ChipBrief | None = Field(description="None for a cpu job.")
    count: int = Field(description="Accelerators, or vCPUs for a cpu job.")
    estimate: EstimateDetail
    ecosystem: EcosystemInfo | None


class DatacenterBrief(BaseModel):
    id: uuid.UUID
    name: str


class ProductBrief(BaseModel):
    id: uuid.UUID
    name: str
    accelerators_per_unit: int
    vcpus: int
    memory_gib: int
    price_on_demand_hour: Money
    available_units: int
    datacenter: DatacenterBrief
    province: str
    city: str
    chip: ChipBrief | None


DeadlineRisk = Literal["low", "medium", "high"]


class CostRangeOut(BaseModel):
    low: Money
    central: Money
    high: Money


class BillingAlternative(BaseModel):
    mode: Literal["reserved", "spot"]
    term_months: int | None = Field(None, description="reserved: the term that covers the run.")
    cost: Money | None = Field(None, description="reserved: the whole term.")
    cost_at_floor: Money | None = Field(None, description="spot: the central hours at the spot floor price.")
    slack: float | None = Field(None, description="spot: deadline / high estimate.")
    reason: str | None = None
    reason_message: MessageOut | None = None
    why_not: str | None = None
    why_not_message: MessageOut | None = None


class OrderQuote(BaseModel):
    """The terms the advice quotes, exactly as an order (or a launched job) uses them."""

    mode: BillingMode
    term_months: int | None = Field(None, description="reserved: the term.")
    bid_hour: Money | None = Field(None, description="spot: the bid per unit-hour (the floor the cost is quoted at).")
    unit_price: Money = Field(description="Per unit-hour (on demand; spot: the bid) or per unit-month (reserved).")
    price_hour: Money | None = Field(None, description="The whole allocation per hour (on demand, spot).")
    cost: Money = Field(description="The quoted cost: central hours at that price, or the whole reserved term.")


class BillingAdvice(BaseModel):
    mode: BillingMode
    reason: str
    reason_message: MessageOut
    alternatives: list[BillingAlternative]
    quote: OrderQuote = Field(description="The advised mode's terms: what the order link and a launch use.")


class RecommendationItem(BaseModel):
    product: ProductBrief
    units: int
    accelerators: int
    fits_in_memory: bool | None
    memory_needed_gib: float | None
    hours: HoursRange
    meets_deadline_high: bool = Field(description="Whether even the slow estimate meets the deadline.")
    deadline_risk: DeadlineRisk = Field(description="low: the slow estimate leaves 25% of the deadline spare; "
                                                    "medium: the slow estimate still meets it; high: only the "
                                                    "central one does.")
    cost: CostRangeOut
    price_hour: Money = Field(description="The whole allocation, on demand.")
    bottleneck: str
    samples_per_s: HoursRange | None = Field(None, description="Generic training: low/central/high samples/s of "
                                             "the allocation.")
    mfu: float | None = Field(None, description="Generic training: share of the devices' peak FLOPs the central "
                              "estimate uses (0-1).")
    billing: BillingAdvice
    reason: str
    reason_message: MessageOut
    ecosystem: EcosystemInfo | None
    notes: list[str]
    note_messages: list[MessageOut] = Field(description="The notes as translatable messages, in the same order.")


class BestByChip(BaseModel):
    chip: ChipBrief
    product_id: uuid.UUID
    product_name: str
    units: int
    hours_central: float
    hours_high: float
    deadline_risk: DeadlineRisk
    cost_central: Money
    billing_mode: BillingMode = Field(description="The advised billing mode of this option.")
    rank: int = Field(description="Its position among all feasible configurations (1 = cheapest).")


class WhyNot(BaseModel):
    memory: int
    throughput: int
    deadline: int
    budget: int
    no_stock: int
    products_considered: int


class BestCandidate(BaseModel):
    product_id: uuid.UUID
    product_name: str
    units: int
    needs_deadline_hours: float
    needs_budget_cny: Decimal
    free_units: int


class Suggestions(BaseModel):
    min_budget_cny: Decimal | None = Field(description="The least budget that meets the deadline.")
    min_deadline_hours: float | None = Field(description="The shortest deadline the budget allows.")
    best_candidate: BestCandidate | None
    ecosystems: list[str] = Field(description="Ecosystems left out of the request that would give feasible options.")


class RecommendationsOut(BaseModel):
    items: list[RecommendationItem] = Field(description="Feasible configurations, cheapest first.")
    total_feasible: int
    best_by_chip: list[BestByChip]
    best_by_ecosystem: list[RecommendationItem] = Field(
        default_factory=list, description="The best feasible option of each requested ecosystem (also when the "
                                          "cheapest options are all of one ecosystem), cheapest first.")
    candidates_considered: int
    why_not: WhyNot | None = Field(description="When nothing is feasible: candidates failing each check.")
    suggestions: Suggestions | None
    assumptions: list[str]
    assumption_messages: list[MessageOut] = Field(description="The assumptions as translatable messages.")


class TemplateParam(BaseModel):
    name: str
    flag: str
    type: Literal["int", "float", "str", "choice"]
    default: Any
    help: str
    minimum: float | None
    maximum: float | None
    choices: list[str] | None
    smoke_value: Any = Field(description="The value the smoke version uses, when it differs.")


class TemplateEnvironment(BaseModel):
    image: str = Field(description="A container image with the stack.")
    pip: list[str] = Field(description="Or these pip packages (pinned) on the host's Python.")
    notes: str


class TemplateOut(BaseModel):
    id: str
    title: str
    kind: Literal["finetune", "serving", "batch_inference", "hpc"]
    ecosystem: str | None = Field(description="None: CPU.")
    workload_kinds: list[str] = Field(description="Advisor workload kinds this template runs.")
    description: str
    environment: TemplateEnvironment
    script: str
    files: list[str]
    result_file: str = Field(description="Metrics the script writes in the job directory.")
    parameters: list[TemplateParam]
    command: str = Field(description="The command with default parameters.")
    smoke_command: str
    smoke_max_runtime_minutes: int


class TemplateDetailOut(TemplateOut):
    file_contents: dict[str, str] = Field(description="The job's files: name → text.")


class LaunchOut(BaseModel):
    job: JobOut
    rank: int = Field(description="The launched option's position in the ranked list.")
    recommendation: RecommendationItem
    template: TemplateOut
    smoke: bool
    notes: list[str]
    note_messages: list[MessageOut] = Field(description="The notes as translatable messages, in the same order.")
