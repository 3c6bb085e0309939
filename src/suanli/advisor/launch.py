"""A recommendation becomes a scheduled job in one call.

:func:`launch_recommendation` ranks the options exactly as ``POST /recommendations`` does, takes the chosen one
(by rank or product), picks the template for the workload kind on that chip's ecosystem, and submits a job
through the jobs service: resources = the recommended chip and accelerator count (or vCPUs and memory for a CPU
job), constraints = that product (``products``, in its data center) at no more than the recommended allocation's
hourly price, so the job runs on exactly the product that was advised; maximum runtime = the estimate's upper
bound (the serving window for inference), mode = the billing advice (spot when advised, bidding the floor price the
advice quoted; otherwise on demand). The scheduler then places it, holds the money and runs it as any other job. Callers
commit. The notes are messages too (``notes`` in English, ``note_messages`` to translate).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.accounts.models import Role, User
from suanli.advisor.schemas import LaunchIn, RecommendIn, to_core
from suanli.advisor.service import note_fields, recommend
from suanli.catalog.models import Product
from suanli.core.billing import Clock
from suanli.core.messages import Message, msg
from suanli.core.money import format_cny
from suanli.core.templates import Template, template_for_workload
from suanli.errors import Conflict, Forbidden, InvalidInput
from suanli.jobs import service as jobs
from suanli.jobs.schemas import Constraints, JobIn, Resources
from suanli.templates import get_template, script_files

MAX_RUNTIME_MINUTES = 60 * 24 * 30  # the jobs API's limit
SEARCH_LIMIT = 100  # options ranked when looking for a product id


def _chosen(session: Session, body: LaunchIn) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """(rank, item, the whole recommendation) for the option the request names."""
    wanted = body.rank or 1
    limit = SEARCH_LIMIT if body.product_id is not None else max(body.limit, wanted)
    request = RecommendIn(**body.model_dump(include=set(RecommendIn.model_fields)) | {"limit": limit})
    result = recommend(session, request)
    items = result["items"]
    if not items:
        raise Conflict("Nothing is feasible within this deadline and budget, so there is nothing to launch; see "
                       "why_not and suggestions (POST /api/v1/recommendations shows them too).",
                       code="nothing_feasible", details={"why_not": result["why_not"],
                                                         "suggestions": _plain(result["suggestions"])})
    if body.product_id is not None:
        for n, item in enumerate(items, 1):
            if item["product"]["id"] == body.product_id:
                return n, item, result
        raise InvalidInput(f"product_id: product {body.product_id} is not among the {len(items)} feasible options "
                           "for this request.", code="option_not_found",
                           details={"field": "product_id", "feasible_products": [str(i["product"]["id"]) for i in items]})
    if wanted > len(items):
        raise InvalidInput(f"rank: there are only {len(items)} feasible options, so there is no rank {wanted}.",
                           code="option_not_found", details={"field": "rank", "total_feasible": len(items)})
    return wanted, items[wanted - 1], result


def _plain(value: Any) -> Any:
    """JSON-ready copy (error details are not passed through a response model)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def _template(body: LaunchIn, workload_kind: str, ecosystem: str | None) -> Template:
    where = ecosystem or "cpu"
    if body.template_id is None:
        template = template_for_workload(workload_kind, ecosystem)
        if template is None:
            raise InvalidInput(f"There is no template for {workload_kind} on {where}; pick one with template_id "
                               "(GET /api/v1/templates) or submit the job yourself (POST /api/v1/jobs).",
                               code="no_template", details={"workload_kind": workload_kind, "ecosystem": where})
        return template
    template = get_template(body.template_id)
    if workload_kind not in template.workload_kinds or template.ecosystem != ecosystem:
        raise InvalidInput(f"template_id: {template.id} runs {', '.join(template.workload_kinds)} on "
                           f"{template.ecosystem or 'cpu'}; this option is {workload_kind} on {where}.",
                           code="template_mismatch", details={"field": "template_id"})
    return template


#: workload field -> template parameter, so the job runs what was estimated (explicit parameters win)
WORKLOAD_PARAMETERS = {"method": "method", "lora_rank": "lora_rank", "seq_len": "seq_len", "micro_batch": "micro_batch",
                       "precision": "precision", "context_len": "max_model_len"}


def _parameters(body: LaunchIn, template: Template) -> dict[str, Any]:
    """The template parameters: those the workload implies (method, rank, sequence length, precision, context),
    then the request's own. A workload the template cannot run (full fine-tuning with a LoRA template, QLoRA where
    bitsandbytes does not exist) is a 422 naming the override."""
    names = {p.name for p in template.params}
    derived: dict[str, Any] = {}
    for field, name in WORKLOAD_PARAMETERS.items():
        value = getattr(body.workload, field, None)
        if value is None or name not in names or name in body.parameters:
            continue
        try:
            derived[name] = template.param(name).parse(value)
        except ValueError as exc:
            if name == "precision":  # e.g. fp8 or fp32: the template runs bf16/fp16; the estimate's notes say so
                continue
            raise InvalidInput(f"workload.{field}: template {template.id} cannot run {field} {value!r} "
                               f"({str(exc).partition(': ')[2]}); set parameters.{name} or choose another "
                               "template_id.", code="template_mismatch",
                               details={"field": f"workload.{field}", "template_id": template.id}) from None
    return {**derived, **body.parameters}


def _max_runtime_minutes(item: dict[str, Any], smoke: bool, template: Template) -> int:
    if smoke:
        return template.smoke_minutes
    minutes = math.ceil(item["hours"]["high"] * 60)
    if minutes > MAX_RUNTIME_MINUTES:
        raise InvalidInput(f"The slow estimate ({item['hours']['high']:.0f} h) is longer than the 30 days a job may "
                           "run; split the work or choose an option with more accelerators.", code="too_long",
                           details={"hours_high": item["hours"]["high"], "max_runtime_minutes": MAX_RUNTIME_MINUTES})
    return max(1, minutes)


def launch_recommendation(session: Session, clock: Clock, user: User, body: LaunchIn) -> dict[str, Any]:
    """Rank, choose, build and submit: returns ``{job, rank, recommendation, template, smoke, notes}``."""
    if user.role is not Role.BUYER:  # before the search: submit_job would refuse it anyway
        raise Forbidden("Only buyer accounts launch jobs (they are billed to the buyer's wallet); log in as a buyer.",
                        code="wrong_role", details={"required_roles": ["buyer"]})
    workload = body.workload
    to_core(workload)  # the same 422 as /recommendations for a bad workload, before any search
    rank, item, _ = _chosen(session, body)
    product, chip = item["product"], item["product"]["chip"]
    if session.scalar(select(Product.cluster_id).where(Product.id == product["id"])) is None:
        raise Conflict(f"Option {rank} ({product['name']}) can be rented as an order but its data center runs no jobs "
                       "on it (no cluster behind the product); launch another rank, or order it (POST "
                       "/api/v1/orders).", code="not_schedulable", details={"rank": rank, "product_id": str(product["id"])})
    ecosystem = chip["ecosystem"] if chip else None
    template = _template(body, workload.kind, ecosystem)
    try:
        command = template.command(_parameters(body, template), smoke=body.smoke)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise InvalidInput(f"parameters.{field}: {message}", code="invalid_template_parameter",
                           details={"field": f"parameters.{field}", "template_id": template.id}) from None
    clash = sorted(set(body.files) & set(template.files))
    if clash:
        raise InvalidInput(f"files: {', '.join(clash)} would replace the template's own files; rename them.",
                           code="invalid_value", details={"field": "files", "names": clash})
    notes: list[Message] = []
    billing = item["billing"]["mode"]
    quote = item["billing"]["quote"]
    mode, bid = ("spot", quote["price_hour"]["fen"]) if billing == "spot" else ("on_demand", None)
    if billing == "spot":
        notes.append(msg("spot, as advised: the bid is the floor price the cost was quoted at (%(bid)s per hour for "
                         "the allocation); a preempted job is requeued", bid=format_cny(quote["price_hour"]["fen"])))
    elif billing == "reserved":
        notes.append(msg("reserved terms are bought as orders (POST /api/v1/orders); the job runs on demand"))
    if chip:
        resources = Resources(accelerators=item["accelerators"], chip=chip["key"], ecosystem=ecosystem)
    else:
        resources = Resources(vcpus=item["units"] * product["vcpus"],
                              memory_gib=item["units"] * product["memory_gib"])
    job_in = JobIn(name=body.name or template.id, command=command, env=body.env,
                   files={**body.files, **script_files(template)}, resources=resources,
                   constraints=Constraints(datacenters=[product["datacenter"]["id"]], products=[product["id"]],
                                           max_hourly_price_fen=item["price_hour"]["fen"]),
                   mode=mode, bid_hourly_fen=bid, max_runtime_minutes=_max_runtime_minutes(item, body.smoke, template))
    job = jobs.submit_job(session, clock, user, job_in)
    notes.append(msg("placed by the scheduler on %(product)s in %(datacenter)s (the job runs on that product only) at "
                     "no more than the recommended hourly price", datacenter=product["datacenter"]["name"],
                     product=product["name"]))
    return {"job": jobs.job_out(session, job, viewer=user), "rank": rank, "recommendation": item,
            "template": template.describe(), "smoke": body.smoke, **note_fields(notes)}


__all__ = ["launch_recommendation"]
