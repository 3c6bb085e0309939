"""The pages through FastAPI's TestClient, on SQLite and PostgreSQL: storefront, login sessions, CSRF, form errors
next to their fields, the buyer's console, error pages and the language switch."""

from __future__ import annotations

import re
import uuid
from typing import Any

import datetime as dt
import warnings

import pytest

from suanli.app import create_app
from suanli.core.billing import ManualClock
from support import PASSWORD
from web_support import WebClient, csrf_token

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def shop(make: Any) -> dict[str, Any]:
    """A seller with two A800 products and one Ascend product, a buyer, and an operator."""
    seller = make.user("seller")
    dc = make.datacenter(seller, name="芜湖一号数据中心")
    cheap = make.product(seller, dc, name="A800 ×8 经济型", price_on_demand_fen=6000)
    dear = make.product(seller, dc, name="A800 ×8 高配型", price_on_demand_fen=12000)
    ascend = make.product(seller, dc, name="昇腾 910B ×8", chip="ascend-910b", price_on_demand_fen=7000)
    return {"seller": seller, "dc": dc, "cheap": cheap, "dear": dear, "ascend": ascend,
            "buyer": make.user("buyer"), "operator": make.user("operator")}


def topup(make: Any, shop: dict[str, Any], fen: int) -> None:
    org = make.client.get("/api/v1/auth/me", headers=shop["buyer"]["headers"]).json()["organization"]["id"]
    r = make.client.post("/api/v1/operator/topups", headers=shop["operator"]["headers"],
                         json={"organization_id": org, "amount_fen": fen, "reference": f"t-{uuid.uuid4().hex}"})
    assert r.status_code == 201, r.text


def errors_of(html: str) -> list[str]:
    """The form's errors (top and per field), for assertion messages."""
    return [text_of(e) for e in re.findall(r'(?s)data-testid="(?:form-error|error-\w+)">(.*?)</div>', html)]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# ---------------------------------------------------------------- storefront

def test_home_shows_the_platform_figures_in_chinese_by_default(web: WebClient, shop):
    r = web.get("/")
    assert r.status_code == 200
    assert '<html lang="zh-CN">' in r.text
    page = text_of(r.text)
    assert "接入数据中心" in page and "在售算力产品" in page and "交易额" in page
    assert re.search(r"3 在售算力产品", page), page[:2000]  # three listed products


def test_catalog_filters_sort_and_prices_per_pflops_with_the_index_position(web: WebClient, shop):
    r = web.get("/catalog?chip=a800&sort=price")
    assert r.status_code == 200
    rows = re.findall(r'data-product-id="([^"]+)"', r.text)
    assert rows == [shop["cheap"]["id"], shop["dear"]["id"]]  # the Ascend product is filtered out; cheapest first
    page = text_of(r.text)
    assert "¥60.00" in page and "/PFLOPS·时" in page
    # 60 and 120 CNY for 8 A800: 7.50 and 15.00 per accelerator-hour; the index of two offers puts them apart
    assert "最低 25% 价位" in page and "最高 25% 价位" in page


def test_catalog_pages_on_with_htmx_more_until_the_last_page(web: WebClient, make, shop):
    for n in range(22):
        make.product(shop["seller"], shop["dc"], name=f"A800 批量 {n}", price_on_demand_fen=9000 + n)
    first = web.get("/catalog?chip=a800&sort=price")
    ids = re.findall(r'data-product-id="([^"]+)"', first.text)
    assert len(ids) == 20
    more = re.search(r'hx-get="(/catalog/rows\?[^"]+)"', first.text).group(1).replace("&amp;", "&")
    second = web.get(more, headers={"HX-Request": "true"})
    assert second.status_code == 200 and "<html" not in second.text  # a fragment
    rest = re.findall(r'data-product-id="([^"]+)"', second.text)
    assert len(rest) == 4 and not set(rest) & set(ids)
    assert "/catalog/rows" not in second.text  # no "more" after the last page


def test_a_bad_query_is_explained_next_to_the_search_box(web: WebClient, shop):
    r = web.get("/catalog?q=chip%3Dnope")
    assert r.status_code == 400
    error = re.search(r'data-testid="error-q">([^<]+)<', r.text)
    assert error and "“nope”不是“chip”的有效值" in error.group(1) and "ascend-910b" in error.group(1)
    assert "Unknown chip" not in r.text
    r = web.get("/catalog?min_accelerators=lots")
    assert r.status_code == 400 and 'data-testid="error-min_accelerators">请输入整数。' in r.text


def test_compare_shows_up_to_four_products_side_by_side(web: WebClient, make, shop):
    ids = [shop["cheap"]["id"], shop["dear"]["id"], shop["ascend"]["id"]]
    r = web.get("/compare?" + "&".join(f"ids={i}" for i in ids))
    assert r.status_code == 200
    header = re.search(r'data-testid="compare-table">\s*<tr>(.*?)</tr>', r.text, re.S).group(1)
    assert [n for n in ("A800 ×8 经济型", "A800 ×8 高配型", "昇腾 910B ×8") if n in header] == [
        "A800 ×8 经济型", "A800 ×8 高配型", "昇腾 910B ×8"]
    remove = re.findall(r'href="(/compare\?[^"]*)">移除', r.text)
    assert len(remove) == 3 and shop["cheap"]["id"] not in remove[0] and shop["dear"]["id"] in remove[0]
    # each product's buttons sit in its own column (a wrapper, not a flex table cell)
    actions = re.findall(r'(?s)<td class="cell-actions" data-testid="compare-actions"><div class="actions">(.*?)</div></td>',
                         r.text)
    assert len(actions) == 3 and all("/products/" in a and "移除" in a for a in actions)
    # rows that differ are highlighted, rows that agree are not
    differing = re.findall(r'<tr class="differs" data-testid="differs"><th>([^<]+)</th>', r.text)
    assert "每小时价格" in differing and "生态" in differing[0:20] or "软件生态" in differing, differing
    assert "网络" not in differing and "数据中心" not in differing  # same data center, same network
    extra = [make.product(shop["seller"], shop["dc"])["id"] for _ in range(2)]
    r = web.get("/compare?ids=" + ",".join(ids + extra))
    assert "最多可对比 4 个产品" in text_of(r.text)
    assert r.text.count('href="/products/') - r.text.count("#order") == 4


def test_compare_picks_survive_new_searches_until_removed(web: WebClient, shop):
    cheap, ascend = shop["cheap"]["id"], shop["ascend"]["id"]
    # picks are part of the filter form: a new search (any filter, the box) sends them again
    r = web.get(f"/catalog?q=昇腾&ids={cheap}")
    assert r.status_code == 200
    bar = re.search(r'(?s)<div id="compare-form".*?</div>\s*</section>', r.text).group(0)
    assert f'form="filters" name="ids" value="{cheap}" checked' in bar and "A800 ×8 经济型" in bar
    assert re.search(rf'(?s)data-product-id="{ascend}".*?form="filters" name="ids" value="{ascend}"', r.text)
    # a picked product shown in the results is marked, not offered twice
    r = web.get(f"/catalog?ids={cheap}&ids={ascend}")
    assert r.text.count('data-testid="picked"') == 2 and r.text.count(f'value="{cheap}"') == 1
    # removing one: its × link is the page without it
    remove = re.findall(r'<a href="([^"]+)" aria-label="移除 A800 ×8 经济型" data-testid="remove-pick">', r.text)
    assert remove and cheap not in remove[0] and ascend in remove[0]
    # the form's Compare button opens the comparison of the picks (htmx: by HX-Redirect)
    r = web.get(f"/catalog?q=A800&ids={cheap}&ids={ascend}&compare=1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/compare?ids={cheap}&ids={ascend}"
    r = web.get(f"/catalog?ids={cheap}&compare=1", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.headers["HX-Redirect"] == f"/compare?ids={cheap}"


def test_free_words_in_the_box_are_searched_and_shown_as_removable_filters(web: WebClient, shop):
    r = web.get("/catalog?q=A800")
    assert r.status_code == 200, errors_of(r.text)
    assert re.findall(r'data-product-id="([^"]+)"', r.text) == [shop["cheap"]["id"], shop["dear"]["id"]]
    chips = re.findall(r'(?s)data-testid="filter-chip"[^>]*>(.*?)<a href="([^"]+)"', r.text)
    assert [(text_of(c).strip(), url) for c, url in chips] == [("芯片：NVIDIA A800 SXM4 80GB", "/catalog")]
    r = web.get("/catalog?q=昇腾+910B+8卡+最便宜")
    assert re.findall(r'data-product-id="([^"]+)"', r.text) == [shop["ascend"]["id"]]
    labels = [text_of(c).strip() for c, _url in
              re.findall(r'(?s)data-testid="filter-chip"[^>]*>(.*?)<a href="([^"]+)"', r.text)]
    assert labels == ["芯片：Huawei Ascend 910B 64GB", "每份加速卡数：≥ 8", "排序：每小时价格，升序"], labels
    # removing "8卡" keeps the rest of the words
    url = re.search(r'aria-label="移除 每份加速卡数：≥ 8" data-testid="remove-filter"', r.text) and re.findall(
        r'(?s)data-testid="filter-chip"[^>]*>.*?<a href="([^"]+)"', r.text)[1]
    assert url.replace("&amp;", "&") == "/catalog?q=%E6%98%87%E8%85%BE+910B+%E6%9C%80%E4%BE%BF%E5%AE%9C"


def test_a_sort_in_the_box_and_the_sort_list_never_clash(web: WebClient, shop):
    # what the filter form sends: the list's sort, and a text with a sort of its own
    r = web.get("/catalog?q=chip%3D910B+accelerators%3E%3D8+price%3C%3D100+sort%3Dppp&sort=price")
    assert r.status_code == 200, errors_of(r.text)
    assert re.findall(r'data-product-id="([^"]+)"', r.text) == [shop["ascend"]["id"]]
    # the sort moved to the list; the box keeps the rest
    assert '<option value="price_per_pflops" selected>' in r.text
    assert 'value="chip=910B accelerators&gt;=8 price&lt;=100"' in r.text
    r = web.get("/catalog?q=A800&sort=-pflops")  # the list alone sorts
    assert r.status_code == 200 and '<option value="-pflops" selected>' in r.text


@pytest.mark.parametrize(("q", "said"), [
    ("A800 foo", "第 6 个字符处的“foo”不是已知的芯片、厂商、地区或数据中心"),
    ("A800 chip=", "第 11 个字符处的“chip=”在运算符后缺少取值"),  # where the value is missing
    ('A800 "oops', "第 6 个字符处的引号没有闭合"),
    ("A800 2000卡", "2000 超出了“accelerators”的范围：应在 0 到 1024 之间。（在搜索内容的第 6 个字符处。）"),
    ("A800 sort=price 最便宜", "第 17 个字符处的“最便宜”又指定了一次排序"),
])
def test_search_errors_say_in_chinese_what_to_change_where_the_user_typed_it(web: WebClient, shop, q, said):
    r = web.get("/catalog", params={"q": q})
    assert r.status_code == 400
    error = text_of(re.search(r'(?s)data-testid="error-q">(.*?)</div>', r.text).group(1))
    assert said in error, error
    # htmx swaps only 2xx answers: the same page, with 200
    assert web.get("/catalog", params={"q": q}, headers={"HX-Request": "true"}).status_code == 200


def test_product_page_shows_prices_per_mode_availability_and_region(web: WebClient, shop):
    r = web.get(f"/products/{shop['cheap']['id']}")
    page = text_of(r.text)
    assert r.status_code == 200
    for expected in ("¥60.00", "¥35,000.00", "¥30.00", "空闲 4 / 共 4 台", "芜湖一号数据中心", "安徽", "芜湖", "长三角",
                     "登录后下单"):
        assert expected in page, expected


def test_price_index_page_has_both_charts_and_the_table(web: WebClient, shop):
    r = web.get("/price-index?lang=en")
    assert r.status_code == 200
    assert r.text.count('class="chart"') == 2 and "/static/vendor/echarts/echarts.min.js" in r.text
    assert "NVIDIA A800" in r.text and "¥11.25" in r.text  # median of 7.50 and 15.00 per accelerator-hour


def test_vendored_assets_are_served_by_suanli(web: WebClient):
    for path in ("/static/vendor/htmx/htmx.min.js", "/static/vendor/echarts/echarts.min.js",
                 "/static/css/suanli.css", "/static/js/suanli.js"):
        r = web.get(path)
        assert r.status_code == 200 and len(r.content) > 1000, path


# ---------------------------------------------------------------- sessions and CSRF

def test_pages_for_buyers_send_visitors_to_the_login_page_and_back(web: WebClient, shop):
    r = web.get("/account/orders", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Faccount%2Forders"
    web.get("/login?next=/account/orders")
    r = web.post("/login", {"email": shop["buyer"]["email"], "password": PASSWORD, "next": "/account/orders"})
    assert r.status_code == 303 and r.headers["location"] == "/account/orders"
    assert web.get("/account/orders").status_code == 200


def test_the_session_cookie_is_httponly_lax_and_revoked_at_logout(web: WebClient, shop, monkeypatch):
    r = web.login(shop["buyer"]["email"], PASSWORD)
    cookie = r.headers["set-cookie"]
    assert "suanli_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP, SUANLI_COOKIE_SECURE unset: auto
    secret = web.client.cookies.get("suanli_session")
    web.get("/account")
    assert web.post("/logout").status_code == 303
    web.client.cookies.set("suanli_session", secret)  # the old cookie, replayed
    assert web.get("/account", follow_redirects=False).status_code == 303  # revoked on the server: log in again
    monkeypatch.setenv("SUANLI_COOKIE_SECURE", "1")
    assert "Secure" in web.login(shop["buyer"]["email"], PASSWORD).headers["set-cookie"]


def test_a_post_without_the_sessions_csrf_token_gets_a_friendly_403(web: WebClient, shop, client):
    web.login(shop["buyer"]["email"], PASSWORD)
    page = web.get(f"/products/{shop['cheap']['id']}")
    order = {"mode": "on_demand", "units": "1"}
    for token in ("", "forged-token"):
        r = web.post(f"/products/{shop['cheap']['id']}/order", order, token=token)
        assert r.status_code == 403 and 'data-testid="error-page"' in r.text and "您无权访问此页面" in r.text
    # a real token, but of another session (a visitor's): refused as well
    other = WebClient(type(client)(client.app))
    visitor_token = csrf_token(other.get("/login").text)
    assert web.post(f"/products/{shop['cheap']['id']}/order", order, token=visitor_token).status_code == 403
    # and htmx's header works like the hidden field
    r = web.client.post(f"/products/{shop['cheap']['id']}/order", data=order,
                        headers={"X-CSRF-Token": csrf_token(page.text)}, follow_redirects=False)
    assert r.status_code in (303, 400)  # accepted past CSRF (400: the wallet is empty)
    assert web.client.get("/api/v1/orders", headers=shop["buyer"]["headers"]).json()["total"] == 0


def test_login_and_register_errors_are_shown_next_to_their_fields(web: WebClient, shop):
    web.get("/login")
    r = web.post("/login", {"email": shop["buyer"]["email"], "password": "wrong-password"})
    assert r.status_code == 400 and "邮箱或密码错误。" in r.text
    web.get("/register?lang=en")
    r = web.post("/register?lang=en", {"email": "not-an-email", "password": "short", "display_name": "",
                                       "organization_name": "Lab", "role": "buyer"})
    assert r.status_code == 400
    assert 'data-testid="error-email">This does not have the expected format.' in r.text
    assert 'data-testid="error-password">Too short: at least 8 characters.' in r.text  # the rule, not "required"
    assert 'data-testid="error-display_name">This field is required.' in r.text
    assert 'value="Lab"' in r.text  # what was typed stays
    r = web.post("/register?lang=zh-CN", {"email": "a@example.cn", "password": "short", "display_name": "X",
                                          "organization_name": "Lab", "role": "buyer"})
    assert 'data-testid="error-password">太短：至少 8 个字符。' in r.text
    r = web.post("/register?lang=en", {"email": shop["buyer"]["email"], "password": "long-enough-pw",
                                       "display_name": "X", "organization_name": "Another lab", "role": "buyer"})
    assert r.status_code == 400 and "An account with this email exists already" in r.text


def test_registering_signs_the_new_buyer_in(web: WebClient):
    web.get("/register")
    r = web.post("/register", {"email": f"new-{uuid.uuid4().hex[:6]}@example.cn", "password": "long-enough-pw",
                               "display_name": "新用户", "organization_name": f"新实验室 {uuid.uuid4().hex[:6]}",
                               "role": "buyer"})
    assert r.status_code == 303 and r.headers["location"].startswith("/account")
    assert "新用户" in web.get("/account").text


def test_a_seller_gets_the_403_page_on_the_buyer_console(web: WebClient, shop):
    web.login(shop["seller"]["email"], PASSWORD)
    r = web.get("/account")
    assert r.status_code == 403 and 'data-testid="error-page"' in r.text


# ---------------------------------------------------------------- the buyer's console

def test_an_order_without_money_is_refused_at_the_top_of_the_form(web: WebClient, shop):
    web.login(shop["buyer"]["email"], PASSWORD)
    web.get(f"/products/{shop['cheap']['id']}")
    r = web.post(f"/products/{shop['cheap']['id']}/order", {"mode": "on_demand", "units": "1"})
    assert r.status_code == 400
    assert 'data-testid="form-error"' in r.text and "钱包余额不足" in r.text
    r = web.post(f"/products/{shop['cheap']['id']}/order", {"mode": "on_demand", "units": "0"})
    assert 'data-testid="error-units">不能小于 1。' in r.text
    r = web.post(f"/products/{shop['cheap']['id']}/order", {"mode": "spot", "units": "1", "bid_cny": "1.5x"})
    assert 'data-testid="error-bid_cny">' in r.text
    assert web.get(f"/products/{shop['cheap']['id']}").text.count("空闲 4 / 共 4 台") == 1  # no unit was taken


def test_the_order_form_shows_the_price_frozen_now_and_the_total_before_ordering(web: WebClient, make, shop):
    web.login(shop["buyer"]["email"], PASSWORD)
    page = web.get(f"/products/{shop['cheap']['id']}?units=2&quote_hours=10").text
    box = text_of(re.search(r'(?s)<div id="order-quote".*?</div>', page).group(0))
    # ¥60 per unit-hour, 2 units: ¥120 per hour, the first hour frozen, ¥1,200.00 for 10 hours
    assert "¥60.00 每份·小时" in box and "¥120.00" in box and "10 小时合计 ¥1,200.00" in box, box
    api = make.client.get(f"/api/v1/products/{shop['cheap']['id']}/quote",
                          params={"mode": "on_demand", "units": 2, "hours": 10}).json()
    assert api["frozen_now"]["cny"] == "120.00" and api["total"]["cny"] == "1200.00"
    # htmx asks again as the form changes: a reserved term, charged at once
    r = web.get(f"/products/{shop['cheap']['id']}/quote", params={"mode": "reserved", "units": "1",
                                                                   "term_months": "3"},
                headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    expected = make.client.get(f"/api/v1/products/{shop['cheap']['id']}/quote",
                               params={"mode": "reserved", "units": 1, "term_months": 3}).json()
    assert f"3 个月合计 ¥{float(expected['total']['cny']):,.2f}" in text_of(r.text) and "下单即扣款" in text_of(r.text)
    # a bid below the floor is explained in the box, in the order form's words
    r = web.get(f"/products/{shop['cheap']['id']}/quote", params={"mode": "spot", "units": "1", "bid_cny": "1"})
    assert 'data-testid="quote-problem"' in r.text and "¥30.00" in text_of(r.text)


def test_order_release_and_invoice_through_the_pages(db, make, shop):
    clock = ManualClock(dt.datetime.now(dt.UTC))
    web = WebClient(TestClient(create_app(db, clock=clock)))
    topup(make, shop, 100_000)
    web.login(shop["buyer"]["email"], PASSWORD)
    web.get(f"/products/{shop['cheap']['id']}")
    form = {"mode": "on_demand", "units": "2", "idempotency_key": str(uuid.uuid4())}
    r = web.post(f"/products/{shop['cheap']['id']}/order", form)
    assert r.status_code == 303, r.text[:3000]
    order_url = r.headers["location"].split("?")[0]
    again = web.post(f"/products/{shop['cheap']['id']}/order", form)  # a double click: the same order
    assert again.headers["location"].split("?")[0] == order_url
    page = text_of(web.get(order_url).text)
    assert "运行中" in page and "按需" in page and "¥120.00" in page  # 2 units × ¥60, one hour held
    assert text_of(web.get("/account").text).count("运行中的租用") >= 1
    clock.advance(30 * 60)  # half an hour of use: ¥60 for the two units
    r = web.post(order_url + "/release")  # asks first, with the figures
    assert r.status_code == 200 and 'data-testid="confirm-step"' in r.text
    lines = [text_of(x).strip() for x in re.findall(r'data-testid="confirm-line">(.*?)</dd>', r.text)]
    assert lines[1:] == ["¥120.00", "¥60.00", "¥60.00"], lines  # held, used so far, back to the wallet
    assert "运行中" in text_of(web.get(order_url).text)  # nothing happened yet
    r = web.post(order_url + "/release", {"confirmed": "1"})
    assert r.status_code == 303
    page = text_of(web.get(r.headers["location"]).text)
    assert "已结束" in page and "已释放" in page and "¥60.00" in page
    statements = web.get("/account/statements").text
    period = re.search(r'href="/account/statements/(\d{4}-\d{2})"', statements).group(1)
    statement = web.get(f"/account/statements/{period}")
    assert "A800 ×8 经济型" in statement.text and 'data-testid="statement-line"' in statement.text
    assert "账单" in statement.text and "发票" not in statement.text.replace("不是发票", "")
    old = web.get(f"/account/invoices/{period}?lang=en", follow_redirects=False)  # the old address still works
    assert old.status_code == 308 and old.headers["location"] == f"/account/statements/{period}?lang=en"
    csv = web.get(f"/account/statements/{period}/csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "A800 ×8 经济型" in csv.content.decode("utf-8-sig")
    r = web.post(order_url + "/release", {"confirmed": "1"})  # released already: explained, not a 500
    assert r.status_code in (400, 409) and 'data-testid="form-error"' in r.text


def test_jobs_show_their_state_and_can_be_cancelled_from_the_page(web: WebClient, make, shop):
    r = make.client.post("/api/v1/jobs", headers=shop["buyer"]["headers"], json={
        "name": "resnet", "command": "echo hi", "resources": {"accelerators": 8, "chip": "a800"},
        "max_runtime_minutes": 30})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    web.login(shop["buyer"]["email"], PASSWORD)
    assert "resnet" in web.get("/account/jobs").text
    page = web.get(f"/account/jobs/{job_id}")
    assert "排队中" in text_of(page.text) and "等待调度" in text_of(page.text)
    r = web.post(f"/account/jobs/{job_id}/cancel")
    assert r.status_code == 303
    assert "已取消" in text_of(web.get(f"/account/jobs/{job_id}").text)
    assert web.get(f"/account/jobs/{uuid.uuid4()}").status_code == 404


# ---------------------------------------------------------------- the advisor

def test_the_advisor_ranks_options_and_offers_order_and_launch(web: WebClient, shop):
    r = web.get("/advisor?kind=llm_finetune&params_b=7&tokens=100000000&method=lora&deadline_hours=48"
                "&ecosystems=cuda&ecosystems=cann")
    assert r.status_code == 200
    assert r.text.count('data-testid="recommendation"') >= 2
    order_link = re.search(r'href="(/products/[^"]+)" data-testid="rec-order"', r.text).group(1)
    assert "units=" in order_link and "mode=" in order_link
    assert 'action="/advisor/launch"' in r.text
    best = re.search(r'(?s)data-testid="best-by-chip".*?</details>', r.text).group(0)
    rows = re.findall(r'(?s)data-testid="best-chip-row">(.*?)</tr>', best)
    assert len(rows) == 2 and "A800" in rows[0] and "Ascend 910B" in rows[1] and "国产" in rows[1]
    assert shop["ascend"]["id"] in rows[1]  # its launch button names the Ascend product
    r = web.get("/advisor?kind=llm_finetune&params_b=&tokens=100&deadline_hours=soon")
    assert r.status_code == 400
    assert 'data-testid="error-params_b"' in r.text and 'data-testid="error-deadline_hours"' in r.text
    assert 'data-testid="error-ecosystems"' in r.text


def test_the_advisor_takes_a_training_jobs_architecture_and_data_pipeline_rate(web: WebClient, shop):
    query = ("/advisor?kind=dl_training&model=resnet50&precision=amp&batch_size=256&samples=1281167&epochs=1"
             "&deadline_hours=48&ecosystems=cuda&ecosystems=cann")
    r = web.get(query + "&architecture=cnn&input_samples_per_s=300")
    assert r.status_code == 200, r.text
    assert '<option value="speech"' in r.text and 'name="input_samples_per_s"' in r.text
    assert r.text.count('data-testid="recommendation"') >= 1
    assert "数据管道" in r.text  # every option is limited by the stated 300 images/s per server
    assert "约占加速卡峰值 FLOPs 的" in r.text  # the FLOPs utilisation of each option
    r = web.get(query + "&architecture=capsule")
    assert r.status_code == 400 and "architecture" in r.text


def test_launching_from_the_advisor_needs_a_buyer_and_makes_a_job(web: WebClient, make, shop, tmp_path):
    operator = make.user("operator")  # local clusters run on the platform's machine: operators register them
    r = make.client.post(f"/api/v1/datacenters/{shop['dc']['id']}/clusters", headers=operator["headers"],
                         json={"name": "local", "kind": "local", "endpoint": str(tmp_path),
                               "product_ids": [shop["cheap"]["id"], shop["dear"]["id"], shop["ascend"]["id"]]})
    assert r.status_code == 201, r.text
    query = ("kind=llm_finetune&params_b=7&tokens=100000000&method=lora&deadline_hours=48&ecosystems=cuda")
    page = web.get(f"/advisor?{query}")
    product_id = re.search(r'name="product_id" value="([^"]+)"', page.text).group(1)
    fields = {"kind": "llm_finetune", "params_b": "7", "tokens": "100000000", "method": "lora",
              "deadline_hours": "48", "ecosystems": "cuda", "product_id": product_id, "smoke": "1"}
    r = web.post("/advisor/launch", fields, headers={"referer": f"http://testserver/advisor?{query}"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fadvisor%3Fkind")
    web.login(shop["buyer"]["email"], PASSWORD)
    web.get(f"/advisor?{query}")
    # the launch button asks first: what runs, what it costs, what is held, and the smoke test first
    r = web.post("/advisor/launch", {k: v for k, v in fields.items() if k != "smoke"})
    assert r.status_code == 200 and 'data-testid="launch-confirm"' in r.text
    assert 'name="smoke" value="1" data-testid="launch-smoke"' in r.text and 'data-testid="launch-full"' in r.text
    assert re.search(r'data-testid="confirm-hold">¥[\d,]+\.\d\d', r.text)
    assert "/account/jobs/" not in r.headers.get("location", "")
    r = web.post("/advisor/launch", {**fields, "confirmed": "1"})
    assert r.status_code == 303, re.findall(r'(?s)data-testid="form-error">(.*?)</div>', r.text)
    assert r.headers["location"].startswith("/account/jobs/")
    assert "排队中" in text_of(web.get(r.headers["location"].split("?")[0]).text)


def test_the_advisor_orders_what_it_advised_and_shows_risk_and_every_ecosystem(web: WebClient, make, shop):
    spot = make.product(shop["seller"], shop["dc"], name="A800 ×8 竞价型", price_on_demand_fen=6500,
                        price_spot_floor_fen=2100)
    query = ("kind=llm_finetune&params_b=7&tokens=100000000&method=lora&deadline_hours=200"
             "&ecosystems=cuda&ecosystems=cann")
    advice = make.client.post("/api/v1/recommendations", json={
        "workload": {"kind": "llm_finetune", "params_b": 7, "tokens": 100000000, "method": "lora"},
        "deadline_hours": 200, "ecosystems": ["cuda", "cann"]}).json()
    item = next(i for i in advice["items"] if i["product"]["id"] == spot["id"])
    quote = item["billing"]["quote"]
    assert item["billing"]["mode"] == quote["mode"] == "spot", item["billing"]
    assert quote["bid_hour"]["fen"] == 2100 and quote["cost"] == item["billing"]["alternatives"][-1]["cost_at_floor"]
    page = web.get(f"/advisor?{query}")
    card = next(c for c in re.findall(r'(?s)<article class="card rec".*?</article>', page.text) if spot["id"] in c)
    link = re.search(r'href="(/products/[^"]+)" data-testid="rec-order"', card).group(1).replace("&amp;", "&")
    assert "mode=spot" in link and f"units={item['units']}" in link
    bid = re.search(r"bid_cny=([\d.]+)", link).group(1)
    assert bid == str(quote["bid_hour"]["cny"]) == "21.00"  # the floor the cost was quoted at, not on demand
    assert "出价每小时 ¥21.00" in text_of(card)
    # the order form comes prefilled with that bid
    web.login(shop["buyer"]["email"], PASSWORD)
    form = web.get(link.split("#")[0]).text
    assert re.search(r'name="bid_cny"[^>]*value="21.00"', form)
    # deadline risk is a figure of each option and a column of the per-chip table
    assert "超期风险" in text_of(card) and re.search(r'data-testid="rec-risk"><span class="badge \w+" data-risk="(low|medium|high)"', card)
    best = re.search(r'(?s)data-testid="best-by-chip".*?</details>', page.text).group(0)
    assert "超期风险" in best and best.count("data-risk=") == 2
    # with a tight budget only A800s rank first; the Ascend still gets its own card as the best for CANN
    assert len(advice["best_by_ecosystem"]) == 2
    assert {i["ecosystem"]["key"] for i in advice["best_by_ecosystem"]} == {"cuda", "cann"}
    page = web.get(f"/advisor?{query}".replace("deadline_hours=200", "deadline_hours=200&budget_cny=100000"))
    cards = re.findall(r'(?s)<article class="card rec".*?</article>', page.text)
    assert any(shop["ascend"]["id"] in c for c in cards)


# ---------------------------------------------------------------- errors and languages

def test_error_pages_are_friendly_in_both_languages_and_the_api_keeps_json(web: WebClient, shop):
    r = web.get("/no-such-page")
    assert r.status_code == 404 and "页面不存在" in r.text and 'data-testid="error-page"' in r.text
    r = web.get("/no-such-page?lang=en")
    assert r.status_code == 404 and "Page not found" in r.text
    assert web.get(f"/products/{uuid.uuid4()}").status_code == 404
    assert web.get("/products/not-an-id").status_code == 404
    assert web.get("/account/statements/not-a-month", follow_redirects=False).status_code == 303
    api = web.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_the_language_switch_sets_a_cookie_and_lang_overrides_it(web: WebClient, shop):
    r = web.get("/lang/en?next=/catalog", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/catalog"
    assert "lang=en" in r.headers["set-cookie"]
    page = web.get("/catalog")
    assert '<html lang="en">' in page.text and "Compute marketplace" in page.text
    assert '<html lang="zh-CN">' in web.get("/catalog?lang=zh-CN").text
    web.get("/lang/zh-CN?next=/")
    assert "算力市场" in web.get("/").text
    assert web.get("/lang/en?next=https://evil.example/", follow_redirects=False).headers["location"] == "/"


def test_a_reserved_lease_is_extended_from_its_page(web: WebClient, make, shop):
    topup(make, shop, 10_000_000)
    web.login(shop["buyer"]["email"], PASSWORD)
    web.get(f"/products/{shop['cheap']['id']}?mode=reserved")
    r = web.post(f"/products/{shop['cheap']['id']}/order", {"mode": "reserved", "units": "1", "term_months": "1"})
    assert r.status_code == 303, errors_of(r.text)
    order_url = r.headers["location"].split("?")[0]
    page = web.get(order_url).text
    assert 'data-testid="extend"' in page and 'data-testid="release"' not in page  # a term runs to its end
    before = web.client.get(f"/api/v1/orders/{order_url.rsplit('/', 1)[1]}", headers=shop["buyer"]["headers"]).json()
    r = web.post(order_url + "/extend", {"term_months": "1", "idempotency_key": f"{uuid.uuid4()}"})
    assert r.status_code == 303 and "notice=order_extended" in r.headers["location"], errors_of(r.text)
    after = web.client.get(f"/api/v1/orders/{order_url.rsplit('/', 1)[1]}", headers=shop["buyer"]["headers"]).json()
    assert after["ends_at"] > before["ends_at"] and after["charged"]["fen"] > before["charged"]["fen"]
    r = web.post(order_url + "/extend", {"term_months": "2"})
    assert r.status_code == 400 and 'data-testid="form-error"' in r.text  # 1, 3, 6 or 12 months only
