"""The advisor page: a workload form, ranked recommendations (time, cost, uncertainty, reasons, ecosystem notes),
and "order" (the product's order form, prefilled) or "launch" (a job, in one click) for each.

The advisor's billing reasons and the estimator's notes arrive as messages (``reason_message``, ``note_messages``)
and are shown in the page's language by the template's ``|say`` filter."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.datastructures import FormData, QueryParams

from suanli.advisor.launch import launch_recommendation
from suanli.advisor.schemas import WORKLOAD_KINDS, LaunchIn, RecommendIn
from suanli.advisor.service import recommend
from suanli.core.chips import ECOSYSTEMS, load_chip_table
from suanli.core.estimates import BOTTLENECKS, REFERENCE_MODELS, cost_fen
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.trading.endpoints import get_clock
from suanli.web.forms import Form, attempt, blank_to_none, translator, validate
from suanli.web.i18n import N_, format_hours, format_money, request_locale
from suanli.web.presenters import labeler
from suanli.web.render import redirect, render, web_router
from suanli.web.security import BuyerUser, PostedForm

router = web_router(prefix="/advisor")

KIND_LABELS = {"llm_finetune": N_("Fine-tune a language model"), "llm_pretrain": N_("Pre-train a language model"),
               "llm_inference": N_("Serve a language model (inference)"),
               "dl_training": N_("Train another deep-learning model"),
               "gpu_hours": N_("GPU hours measured on a known card"), "cpu": N_("CPU computing")}
# The workload's fields per kind (form field → wire field of the workload).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "llm_pretrain": ("params_b", "tokens", "optimizer", "cpu_offload"),
    "llm_finetune": ("params_b", "tokens", "method", "optimizer", "cpu_offload"),
    "llm_inference": ("params_b", "target_tokens_per_s", "context_len"),
    "dl_training": ("model", "architecture", "flops_per_sample", "params_m", "batch_size", "precision", "samples",
                    "epochs", "input_samples_per_s"),
    "gpu_hours": ("gpu_hours", "reference_chip"),
    "cpu": ("core_hours", "memory_gib"),
}
FORM_FIELDS = ("kind", "params_b", "tokens", "method", "optimizer", "cpu_offload", "target_tokens_per_s", "context_len", "flops_per_sample",
               "samples", "epochs", "input_samples_per_s", "model", "architecture", "params_m", "batch_size", "precision", "gpu_hours", "reference_chip", "core_hours", "memory_gib", "deadline_hours",
               "budget_cny", "provinces", "ecosystems", "smoke")
EXAMPLE = {"kind": "llm_finetune", "params_b": "7", "tokens": "100000000", "method": "lora",
           "deadline_hours": "24", "budget_cny": "2000", "ecosystems": list(ECOSYSTEMS)}
# What each software ecosystem means for a workload written for CUDA (shown with every recommendation).
ECOSYSTEM_NOTES = {
    "cuda": N_("Runs CUDA code and every major framework as is."),
    "cann": N_("PyTorch runs through the torch_npu adapter; serving through MindIE or vLLM-Ascend. Custom CUDA "
               "kernels need porting."),
    "dtk": N_("ROCm/HIP-compatible: CUDA code ports through HIP; use the DTK builds of PyTorch and vLLM."),
    "neuware": N_("PyTorch runs through the torch_mlu plug-in; custom kernels need rewriting in BANG C."),
    "xpu": N_("PaddlePaddle first; PyTorch only through Kunlunxin's torch_xpu plug-in, with narrower operator "
              "coverage."),
}
ARCHITECTURE_LABELS = {"cnn": N_("Convolutional network (image classification, detection)"),
                       "transformer": N_("Transformer (BERT, GPT, ViT)"), "rnn": N_("Recurrent network (LSTM, GRU)"),
                       "recommendation": N_("Recommendation (embedding tables + MLP)"), "gan": N_("GAN"),
                       "speech": N_("Speech (text-to-speech, vocoders)")}
# Framework names of the ecosystems (core.chips) that are not only a name.
FRAMEWORK_LABELS = {"PyTorch (DTK build)": N_("PyTorch (DTK build)"), "vLLM (DTK build)": N_("vLLM (DTK build)")}


def _values(source: QueryParams | FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: "" for name in FORM_FIELDS}
    for name in FORM_FIELDS:
        items = [v for v in source.getlist(name) if isinstance(v, str)]
        if name == "ecosystems":
            values[name] = items
        elif items:
            values[name] = items[0]
    return values


def _request_data(values: dict[str, Any]) -> dict[str, Any]:
    kind = values.get("kind") or ""
    workload = {"kind": kind, **blank_to_none({f: values.get(f) for f in KIND_FIELDS.get(kind, ())})}
    provinces = [p.strip() for p in str(values.get("provinces") or "").replace("，", ",").split(",") if p.strip()]
    return {"workload": workload, **blank_to_none({"deadline_hours": values.get("deadline_hours"),
                                                    "budget_cny": values.get("budget_cny")}),
            "provinces": provinces, "ecosystems": values.get("ecosystems") or [], "limit": 10}


def _explain(item: dict[str, Any], locale: str, _: Any, label: Any) -> dict[str, Any]:
    """A recommendation's reasons in the page's language, from the advisor's figures."""
    hours = item["hours"]
    product = item["product"]
    what = f"{item['units']} × {product['name']}"
    reasons = [_("%(what)s in %(city)s: about %(hours)s (%(low)s to %(high)s) for about %(cost)s at %(price)s per "
                 "hour.", what=what, city=product["city"], hours=format_hours(hours["central"], locale),
                 low=format_hours(hours["low"], locale), high=format_hours(hours["high"], locale),
                 cost=format_money(item["cost"]["central"]), price=format_money(item["price_hour"]))]
    reasons.append(_("Even the slow estimate meets the deadline.") if item["meets_deadline_high"]
                   else _("The slow estimate would miss the deadline: allow some margin."))
    rate = item.get("samples_per_s")
    if rate:
        reasons.append(_("About %(rate)s samples per second (%(low)s to %(high)s).",
                         rate=f"{rate['central']:,.0f}", low=f"{rate['low']:,.0f}", high=f"{rate['high']:,.0f}"))
        if item.get("mfu") is not None:
            reasons.append(_("That uses about %(share)s of the accelerators' peak FLOPs.", share=f"{item['mfu']:.0%}"))
    if item.get("bottleneck") in BOTTLENECKS:
        reasons.append(_("Limited by %(what)s.", what=label("bottleneck", item["bottleneck"])))
    eco = item.get("ecosystem") or {}
    note = ECOSYSTEM_NOTES.get(eco.get("key", ""))
    frameworks = [_(FRAMEWORK_LABELS[f]) if f in FRAMEWORK_LABELS else f for f in eco.get("frameworks", [])]
    return {"reasons": reasons, "eco_note": _(note) if note else None, "frameworks": frameworks}


def _order_url(item: dict[str, Any]) -> str:
    """The product's order form with the exact terms the option quoted: mode, units, reserved term, spot bid."""
    quote = item["billing"]["quote"]
    params: dict[str, Any] = {"units": item["units"], "mode": quote["mode"]}
    if quote.get("term_months"):
        params["term_months"] = quote["term_months"]
    if quote.get("bid_hour"):
        params["bid_cny"] = str(quote["bid_hour"]["cny"])
    return f"/products/{item['product']['id']}?{urlencode(params)}#order"


def _cards(result: dict[str, Any] | None) -> list[tuple[dict[str, Any], str | None]]:
    """The detailed options: the ranked ones, then the best of each requested ecosystem the ranking left out
    (with that ecosystem as its label)."""
    items = (result or {}).get("items", [])
    shown = {i["product"]["id"] for i in items}
    extra = [(i, i["ecosystem"]["key"] if i.get("ecosystem") else None)
             for i in (result or {}).get("best_by_ecosystem", []) if i["product"]["id"] not in shown]
    return [(i, None) for i in items] + extra


def _page(request: Request, session: DbSession, values: dict[str, Any], *, submitted: bool,
          form: Form | None = None, status_code: int = 200):
    _ = translator(request)
    locale = request_locale(request)
    label = labeler(request)
    form = form or Form(values=values)
    result = None
    if submitted and not form.errors:
        body = validate(RecommendIn, _request_data(values), form, _, {"workload": "kind"})
        if body is not None:
            try:
                result = recommend(session, body)
            except DomainError as exc:
                form.fail(exc, _)
        if not form.ok:
            status_code = 400
    cards = _cards(result)
    explained = [_explain(item, locale, _, label) for item, _eco in cards]
    other_ecosystems = [label("ecosystem", e) for e in ((result or {}).get("suggestions") or {}).get("ecosystems", [])]
    return render(request, "storefront/advisor.html", {
        "form": form, "result": result, "explained": explained, "label": label, "submitted": submitted,
        "kind_options": [(k, _(KIND_LABELS[k])) for k in WORKLOAD_KINDS if k in KIND_LABELS],
        "kind_fields": KIND_FIELDS, "ecosystems": [(k, label("ecosystem", k)) for k in ECOSYSTEMS],
        "method_options": [("lora", "LoRA"), ("qlora", "QLoRA"), ("full", _("Full fine-tuning"))],
        "optimizer_options": [("adamw", _("AdamW (8 bytes of moments per parameter)")),
                              ("adamw8bit", _("8-bit AdamW (2 bytes per parameter)")),
                              ("paged_adamw8bit", _("Paged 8-bit AdamW (spills to host memory)"))],
        "chip_options": [(c.key, c.name) for c in load_chip_table().values()],
        "model_options": [("", _("None: I give FLOPs per sample"))] + [(m.key, m.name) for m in REFERENCE_MODELS.values()],
        "precision_options": [("fp32", "FP32"), ("tf32", "TF32"), ("amp", _("Mixed precision (AMP)"))],
        "architecture_options": [("", _("Not given (or the model's own)"))] + [
            (key, _(text)) for key, text in ARCHITECTURE_LABELS.items()],
        "cards": cards, "order_urls": [_order_url(item) for item, _eco in cards],
        "other_ecosystems": other_ecosystems,
        "hidden": [(k, v) for k, v in values.items() if k != "smoke" for v in (v if isinstance(v, list) else [v])],
    }, status_code=status_code)


@router.get("")
def advisor_page(request: Request, session: DbSession):
    submitted = "kind" in request.query_params
    values = _values(request.query_params) if submitted else {**{n: "" for n in FORM_FIELDS}, **EXAMPLE}
    return _page(request, session, values, submitted=submitted)


@router.post("/launch")
def launch(request: Request, session: DbSession, buyer: BuyerUser, posted: PostedForm):
    """The recommendation for this product becomes a job (``advisor.launch``), placed by the scheduler — after a
    confirmation page that shows what will run and what it may cost, and offers the smoke test first. Only a post
    with ``confirmed=1`` (that page's buttons) launches."""
    _ = translator(request)
    values = _values(posted)
    form = Form(values=values)
    data = {**_request_data(values), "product_id": posted.get("product_id") or None,
            "smoke": values.get("smoke") in ("1", "true", "on")}
    body = validate(LaunchIn, data, form, _, {"workload": "kind"})
    if body is not None and posted.get("confirmed") != "1":
        item = _option(session, body)
        if item is not None:
            return render(request, "storefront/advisor_confirm.html", {
                "item": item, "label": labeler(request), "product_id": str(body.product_id),
                "hidden": [(k, v) for k, v in values.items() if k != "smoke"
                           for v in (v if isinstance(v, list) else [v])],
                "hold_fen": _hold_fen(item)})
        form.top.append(_("This option is no longer feasible (prices or free units changed). Ask for a new "
                          "recommendation."))
        body = None
    outcome = None
    if body is not None:
        try:
            with attempt(session):
                outcome = launch_recommendation(session, get_clock(request), buyer, body)
        except DomainError as exc:
            form.fail(exc, _)
    if outcome is None:
        return _page(request, session, values, submitted=True, form=form, status_code=400)
    return redirect(f"/account/jobs/{outcome['job']['id']}", notice="job_submitted")


def _option(session: DbSession, body: LaunchIn) -> dict[str, Any] | None:
    """The feasible option of ``body.product_id`` as the advisor ranks it now, or None."""
    request = RecommendIn(**body.model_dump(include=set(RecommendIn.model_fields)) | {"limit": 100})
    return next((i for i in recommend(session, request)["items"] if i["product"]["id"] == body.product_id), None)


def _hold_fen(item: dict[str, Any]) -> int:
    """What the full job may hold in the wallet: the quoted hourly price for the slow estimate's hours (the job's
    maximum runtime), in whole fen like every charge."""
    quote = item["billing"]["quote"]
    hourly = (quote.get("price_hour") or item["price_hour"])["fen"]
    return cost_fen(item["hours"]["high"], hourly)
