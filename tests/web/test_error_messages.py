"""Every error code the services raise has a message on the pages, translated to Chinese and fillable with the
details its raise sites pass; a real refusal reached through a page is shown in the page's language."""

from __future__ import annotations

import ast
import datetime as dt
import re
import uuid
import warnings
from html import unescape
from pathlib import Path
from typing import Any

import suanli
from suanli.app import create_app
from suanli.core.billing import ManualClock
from suanli.errors import DomainError
from suanli.trading.service import CANCEL_GRACE_SECONDS
from suanli.web.error_messages import DOMAIN_MESSAGES, domain_message, placeholders
from suanli.web.forms import Form
from suanli.web.i18n import EN, ZH, gettext_for, merged_catalog
from support import PASSWORD
from web_support import WebClient

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SRC = Path(suanli.__file__).parent
_CJK = re.compile(r"[\u4e00-\u9fff]")
zh, en = gettext_for(ZH), gettext_for(EN)


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _keys(node: ast.expr | None) -> frozenset[str]:
    """The keys of a literal details dict; nothing known for a missing or computed one (so a message for its code
    may use no placeholder)."""
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str)
                                          for k in node.keys):
        return frozenset(k.value for k in node.keys)  # type: ignore[union-attr]
    return frozenset()


def _domain_classes(trees: list[ast.Module]) -> dict[str, str]:
    """DomainError and its subclasses (by name) → their class default code."""
    classes = {node.name: node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    codes: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for name, node in classes.items():
            bases = [_name(b) for b in node.bases]
            if name in codes or not (name == "DomainError" or any(b in codes for b in bases)):
                continue
            own = [s.value.value for s in node.body if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant)
                   and any(isinstance(t, ast.Name) and t.id == "code" for t in s.targets)]
            inherited = next(codes[b] for b in bases if b in codes) if bases and name != "DomainError" else None
            codes[name] = own[0] if own else inherited  # type: ignore[assignment]
            changed = True
    return codes


def raised_codes() -> dict[str, list[frozenset[str]]]:
    """Every error code raised in src/suanli → the details keys of each raise site: ``code="..."`` arguments, the
    class defaults of DomainError's subclasses where no code is given, and the query language's
    ``QueryError("code", message, details)``."""
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in sorted(SRC.rglob("*.py"))]
    classes = _domain_classes(trees)
    sites: dict[str, list[frozenset[str]]] = {code: [] for code in classes.values()}
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            code_arg = keywords.get("code")
            if isinstance(code_arg, ast.Constant) and isinstance(code_arg.value, str):
                sites.setdefault(code_arg.value, []).append(_keys(keywords.get("details")))
            elif code_arg is None and _name(node.func) in classes:
                sites[classes[_name(node.func)]].append(_keys(keywords.get("details")))
            elif (_name(node.func) == "QueryError" and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)):
                details = node.args[2] if len(node.args) > 2 else keywords.get("details")
                sites.setdefault(node.args[0].value, []).append(_keys(details))
    return sites


def test_the_scan_finds_the_codes_the_source_names():
    codes = raised_codes()
    written = {m for path in SRC.rglob("*.py")
               for m in re.findall(r'code="([a-z_]+)"', path.read_text(encoding="utf-8"))}
    assert len(written) > 60 and written <= set(codes)
    assert {"bad_request", "not_found", "conflict", "insufficient_funds", "invalid_query", "unknown_field",
            "syntax_error"} <= set(codes)
    assert codes["stock_below_allocated"] == [frozenset({"allocated_units", "stock_units"})]


def test_every_code_raised_has_a_message_on_the_pages():
    missing = sorted(set(raised_codes()) - set(DOMAIN_MESSAGES))
    assert not missing, (f"error codes without a message in suanli/web/error_messages.py (add one, then run "
                         f"scripts/web_messages.py and translate it): {missing}")


def test_every_message_is_in_chinese_and_fills_in_from_the_details_of_each_raise_site():
    catalog = merged_catalog()
    for code, sites in sorted(raised_codes().items()):
        message = DOMAIN_MESSAGES[code]
        entry = catalog.get(message)
        assert entry is not None and entry.string, f"{code}: {message!r} has no zh_CN translation"
        for keys in sites or [frozenset()]:
            assert placeholders(message) <= keys, f"{code}: a raise site passes only {sorted(keys)}"
            exc = DomainError("the service's English words", code=code, details={k: 1234 for k in keys})
            chinese, english = domain_message(exc, zh), domain_message(exc, en)
            assert chinese is not None and english is not None, code
            assert _CJK.search(chinese) and "%(" not in chinese, (code, chinese)
            assert not _CJK.search(english) and "%(" not in english, (code, english)


def test_codes_the_consoles_show_next_to_a_field_need_no_details():
    """``seller.fail`` translates these without the error's details: a placeholder would show as ``%(x)s``."""
    from suanli.web.operator import TOPUP_CODE_FIELDS
    from suanli.web.seller import CODE_FIELDS
    from suanli.web.seller_products import PRODUCT_CODE_FIELDS

    for code in {*CODE_FIELDS, *TOPUP_CODE_FIELDS, *PRODUCT_CODE_FIELDS, "cluster_exists"}:
        assert not placeholders(DOMAIN_MESSAGES[code]), code


def test_a_form_shows_the_translated_message_with_its_values_and_an_unknown_code_the_services_words():
    form = Form(values={"units": "2"})
    form.fail(DomainError("Refund too large.", code="refund_exceeds_charges", details={"refundable_fen": 1250}), zh)
    assert form.top == [zh("Only %(refundable_fen)s of this order's charges can still be refunded.",
                           refundable_fen="¥12.50")] and "¥12.50" in form.top[0] and not form.details
    form.fail(DomainError("Something new went wrong.", code="a_code_nobody_mapped"), zh)
    assert form.top[-1] == zh("This could not be done.") and form.details == ["Something new went wrong."]
    form.fail(DomainError("Cancel window.", code="cancel_window_passed"), zh)  # details missing: the service's words
    assert form.details[-1] == "Cancel window."


# ---------------------------------------------------------------- through the pages

def _detail(html: str) -> str:
    match = re.search(r'(?s)data-testid="error-page">.*?<p class="small muted">(.*?)</p>', html)
    assert match, "the error page shows no detail line"
    return unescape(match.group(1)).strip()


def test_an_error_page_says_what_the_service_refused_in_the_pages_language(web: WebClient):
    missing = uuid.uuid4()
    r = web.get(f"/products/{missing}")
    assert r.status_code == 404 and 'data-testid="error-page"' in r.text
    chinese = zh("This product does not exist, or it is no longer listed.")
    assert _detail(r.text) == chinese and _CJK.search(chinese)
    assert "There is no product" not in r.text  # the service's English message
    r = web.get(f"/products/{missing}?lang=en")
    assert r.status_code == 404 and _detail(r.text) == "This product does not exist, or it is no longer listed."
    assert "There is no product" not in r.text


def test_a_refused_cancel_says_why_with_its_values_in_chinese_and_in_english(db, make: Any):
    seller = make.user("seller")
    product = make.product(seller, make.datacenter(seller), price_on_demand_fen=6000)
    buyer, operator = make.user("buyer"), make.user("operator")
    org = make.client.get("/api/v1/auth/me", headers=buyer["headers"]).json()["organization"]["id"]
    assert make.client.post("/api/v1/operator/topups", headers=operator["headers"], json={
        "organization_id": org, "amount_fen": 100_000, "reference": f"t-{uuid.uuid4().hex}"}).status_code == 201
    clock = ManualClock(dt.datetime.now(dt.UTC))
    web = WebClient(TestClient(create_app(db, clock=clock)))
    web.login(buyer["email"], PASSWORD)
    web.get(f"/products/{product['id']}")
    r = web.post(f"/products/{product['id']}/order", {"mode": "on_demand", "units": "1",
                                                      "idempotency_key": str(uuid.uuid4())})
    assert r.status_code == 303, r.text[:2000]
    order_url = r.headers["location"].split("?")[0]
    clock.advance(CANCEL_GRACE_SECONDS + 5)  # too late to cancel free of charge

    web.get(order_url)
    r = web.post(order_url + "/cancel", {"confirmed": "1"})
    assert r.status_code == 409
    error = re.search(r'(?s)data-testid="form-error">(.*?)</div>', r.text)
    assert error, r.text[:3000]
    shown = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", error.group(1)))).strip()
    assert shown == zh("An order can be cancelled free of charge only within %(grace_seconds)s seconds of its "
                       "start. Release it instead, paying for the time used.", grace_seconds=CANCEL_GRACE_SECONDS)
    assert _CJK.search(shown) and str(CANCEL_GRACE_SECONDS) in shown and "free of charge" not in r.text

    web.get(order_url + "?lang=en")
    r = web.post(order_url + "/cancel?lang=en", {"confirmed": "1"})
    assert r.status_code == 409
    assert (f"An order can be cancelled free of charge only within {CANCEL_GRACE_SECONDS} seconds of its start. "
            "Release it instead, paying for the time used.") in unescape(r.text)
    assert "POST /api/v1/orders" not in r.text  # not the API's own message
    assert make.client.get(f"/api/v1/orders/{order_url.rsplit('/', 1)[1]}",
                           headers=buyer["headers"]).json()["status"] == "active"



def test_a_bad_search_text_is_explained_next_to_the_box_in_chinese_and_precisely_in_english(web: WebClient):
    r = web.get("/catalog?q=chipp%3DA800")
    assert r.status_code == 400
    assert zh("There is no search field “%(field)s”. Did you mean “%(suggestion)s”?", field="chipp",
              suggestion="chip") in unescape(r.text)
    assert "unknown field" not in r.text.lower()
    r = web.get("/catalog?q=chipp%3DA800&lang=en")
    assert r.status_code == 400
    assert "Unknown field 'chipp'. Did you mean 'chip'?" in unescape(r.text)  # the parser's words, with its hint
