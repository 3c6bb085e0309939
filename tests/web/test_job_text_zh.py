"""The scheduler's sentences on the buyer's job page, through FastAPI's TestClient on SQLite and PostgreSQL: the
placement reason, the failed attempt, the state detail and why a job is not placed read in Chinese on the zh-CN
page and in English on the English one; the API keeps the English text beside its translatable form; a job stored
before the translatable form existed still shows its English text."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from suanli.jobs.models import Job
from support import PASSWORD
from web_support import WebClient

CHINESE_REASON = "满足要求的报价中最便宜的："
ENGLISH_REASON = "cheapest feasible: "
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def section(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(?:dd|p|ol)>', html, re.S)
    assert match, f"no {testid} on the page"
    return text_of(match.group(1)).strip()


def local_cluster(make: Any, operator: dict, dc: dict, products: list[dict], endpoint: Path, name: str) -> None:
    r = make.client.post(f"/api/v1/datacenters/{dc['id']}/clusters", headers=operator["headers"],
                         json={"name": name, "kind": "local", "endpoint": str(endpoint),
                               "product_ids": [p["id"] for p in products]})
    assert r.status_code == 201, r.text


def top_up(make: Any, operator: dict, buyer: dict, fen: int) -> None:
    org = make.client.get("/api/v1/auth/me", headers=buyer["headers"]).json()["organization"]["id"]
    r = make.client.post("/api/v1/operator/topups", headers=operator["headers"],
                         json={"organization_id": org, "amount_fen": fen, "reference": f"t-{uuid.uuid4().hex}"})
    assert r.status_code == 201, r.text


def submit_and_place(make: Any, operator: dict, buyer: dict, **body: Any) -> str:
    r = make.client.post("/api/v1/jobs", headers=buyer["headers"], json={"max_runtime_minutes": 30, **body})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    r = make.client.post("/api/v1/operator/scheduler/run", headers=operator["headers"])
    assert r.status_code == 200 and [p["job_id"] for p in r.json()["placed"]] == [job_id], r.text
    return job_id


@pytest.fixture
def placed_job(make: Any, tmp_path: Path) -> dict[str, Any]:
    """A job placed on the dearer of two A800 products, after its submit to the cheaper one's cluster failed (the
    cluster's base directory is under a file), and a job asking for a chip nobody sells."""
    seller, operator, buyer = make.user("seller"), make.user("operator"), make.user("buyer")
    dc = make.datacenter(seller, name="芜湖一号数据中心")
    cheap = make.product(seller, dc, name="A800 ×8 经济型", price_on_demand_fen=5000)
    dear = make.product(seller, dc, name="A800 ×8 高配型", price_on_demand_fen=9000)
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("a file where the cluster's base directory should be")
    for name, product, endpoint in (("broken", cheap, not_a_directory / "jobs"), ("good", dear, tmp_path / "jobs")):
        local_cluster(make, operator, dc, [product], endpoint, name)
    top_up(make, operator, buyer, 1_000_000)
    ids = {}
    for key, chip in (("placed", "a800"), ("unplaced", "ascend-910b")):
        r = make.client.post("/api/v1/jobs", headers=buyer["headers"], json={
            "name": f"job-{key}", "command": "echo hi", "resources": {"accelerators": 1, "chip": chip},
            "max_runtime_minutes": 30})
        assert r.status_code == 201, r.text
        ids[key] = r.json()["id"]
    r = make.client.post("/api/v1/operator/scheduler/run", headers=operator["headers"])
    assert r.status_code == 200 and not r.json()["errors"], r.text
    assert [p["job_id"] for p in r.json()["placed"]] == [ids["placed"]]
    return {"buyer": buyer, "dear": dear, **ids}


def test_a_placed_jobs_reason_and_attempt_read_in_chinese_and_in_english(web: WebClient, make, placed_job):
    job = make.client.get(f"/api/v1/jobs/{placed_job['placed']}", headers=placed_job["buyer"]["headers"]).json()
    assert job["placement"]["product_id"] == placed_job["dear"]["id"]
    reason = job["placement"]["reason"]
    assert reason.startswith(ENGLISH_REASON) and "the only feasible offer" in reason
    assert job["placement"]["reason_message"][0]["msg"] == "cheapest feasible: %(offer)s"
    (attempt,) = job["attempts"]
    assert attempt["reason"].startswith("submit to cluster broken (local) failed: ")
    assert attempt["reason_message"]["msg"] == "submit to cluster %(cluster)s (%(kind)s) failed: %(error)s"
    assert job["state_detail_message"]["msg"] in ("placed; submitting to the cluster",
                                                  "submitted to %(kind)s cluster %(cluster)s")

    web.login(placed_job["buyer"]["email"], PASSWORD)
    html = web.get(f"/account/jobs/{placed_job['placed']}").text
    why = section(html, "placement-reason")
    assert why.startswith(CHINESE_REASON) and "每小时 ¥90.00" in why and "这是唯一满足要求的报价" in why, why
    assert not re.search(r"[A-Za-z]{2,}", re.sub(UUID, "", why)), why  # the chip, ids, money and numbers only
    page = text_of(html)
    assert ENGLISH_REASON not in page and "the only feasible offer" not in page and "(English)" not in page
    assert "提交到集群 broken（平台沙箱）失败：" in section(html, "attempts") and "submit to cluster" not in page
    assert section(html, "state-detail") in ("已调度，正在提交到集群", "已提交到平台沙箱集群 good")
    assert section(html, "cluster-kind") == "平台沙箱"

    html = web.get(f"/account/jobs/{placed_job['placed']}?lang=en").text
    assert section(html, "placement-reason") == text_of(reason).strip()
    assert "submit to cluster broken (local) failed: " in section(html, "attempts")
    assert CHINESE_REASON not in html and "提交到集群" not in html


def test_why_a_job_is_not_placed_reads_in_chinese(web: WebClient, placed_job):
    web.login(placed_job["buyer"]["email"], PASSWORD)
    html = web.get(f"/account/jobs/{placed_job['unplaced']}").text
    why = section(html, "unplaceable-reason")
    assert re.search(rf"作业 {UUID}（1× ascend-910b）：2 个报价均不满足要求；排除原因：芯片不符 2 个；最常见的原因："
                     r"没有报价提供该芯片", why), why
    assert section(html, "state-detail").startswith("未能调度：作业 ")
    page = text_of(html)
    assert "none of" not in page and "eliminated by" not in page and "not placed" not in page
    html = web.get(f"/account/jobs/{placed_job['unplaced']}?lang=en").text
    assert "none of 2 offers fits; eliminated by chip 2; most often: no offer has that chip" in \
        section(html, "unplaceable-reason")
    assert section(html, "state-detail").startswith("not placed: job ")


def test_a_job_stored_before_the_translatable_text_still_shows_its_english_text(web: WebClient, db, placed_job):
    with db.unit_of_work() as session:
        job = session.get_one(Job, uuid.UUID(placed_job["placed"]))
        attempts = [{k: v for k, v in a.items() if k != "reason_message"} for a in job.attempts]
        reason = job.placement_reason
        session.execute(update(Job).where(Job.id == job.id).values(
            placement_reason_message=None, state_detail_message=None, attempts=attempts))
    web.login(placed_job["buyer"]["email"], PASSWORD)
    html = web.get(f"/account/jobs/{placed_job['placed']}").text
    why = section(html, "placement-reason")
    # the page's own summary, and the English note folded away under it
    assert why.startswith("满足作业要求的最便宜报价") and "调度器说明（英文）" in why and reason in why, why
    assert "submit to cluster broken (local) failed: " in section(html, "attempts")
    html = web.get(f"/account/jobs/{placed_job['placed']}?lang=en").text
    assert reason in html.replace("&#39;", "'")


def test_a_gang_shows_its_servers_by_product_in_chinese(web: WebClient, make, tmp_path):
    seller, operator, buyer = make.user("seller"), make.user("operator"), make.user("buyer")
    dc = make.datacenter(seller, name="庆阳一号数据中心")
    products = [make.product(seller, dc, stock_units=n) for n in (2, 1)]
    local_cluster(make, operator, dc, products, tmp_path / "jobs", "gang")
    top_up(make, operator, buyer, 1_000_000)
    job_id = submit_and_place(make, operator, buyer, name="gang", command="sleep 60",
                              resources={"accelerators": 24, "chip": "a800"})
    job = make.client.get(f"/api/v1/jobs/{job_id}", headers=buyer["headers"]).json()
    web.login(buyer["email"], PASSWORD)
    html = web.get(f"/account/jobs/{job_id}").text
    assert section(html, "gang-parts") == "2 台服务器 · 1 台服务器"
    for part in job["placement"]["parts"]:
        assert f'href="/account/orders/{part["order_id"]}"' in html
    assert "在 庆阳一号数据中心 的 3 台服务器上成组运行" in section(html, "placement-reason")
    r = make.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=buyer["headers"])
    assert r.status_code == 200 and r.json()["state"] == "cancelled"


def test_a_job_the_time_limit_ended_says_so_in_chinese(web: WebClient, make, placed_job, monkeypatch):
    """The local backend's own sentence (the time limit reached) is translatable like the scheduler's: the failed
    job's detail reads wholly in Chinese on the zh-CN page, in English on the English one and in the API."""
    from suanli.backends.base import JobState, JobStatus
    from suanli.backends.local.backend import LocalBackend
    from suanli.core.messages import msg

    def timed_out(self, backend_job_id: str) -> JobStatus:  # what LocalBackend.status says (tests/backends)
        return JobStatus(JobState.FAILED, 124, msg("time limit of %(minutes)s min reached", minutes="30"))

    monkeypatch.setattr(LocalBackend, "status", timed_out)
    operator = make.user("operator")
    r = make.client.post("/api/v1/operator/scheduler/run", headers=operator["headers"])
    assert r.status_code == 200 and [f["job_id"] for f in r.json()["finished"]] == [placed_job["placed"]], r.text
    job = make.client.get(f"/api/v1/jobs/{placed_job['placed']}", headers=placed_job["buyer"]["headers"]).json()
    assert job["state"] == "failed" and job["state_detail"] == "failed (exit code 124): time limit of 30 min reached"
    web.login(placed_job["buyer"]["email"], PASSWORD)
    html = web.get(f"/account/jobs/{placed_job['placed']}").text
    assert section(html, "state-detail") == "失败（退出码 124）：已达到 30 分钟的运行时限"
    html = web.get(f"/account/jobs/{placed_job['placed']}?lang=en").text
    assert section(html, "state-detail") == "failed (exit code 124): time limit of 30 min reached"


def test_a_job_on_a_reserved_lease_says_so_in_chinese_and_in_english(web: WebClient, make, tmp_path):
    seller, operator, buyer = make.user("seller"), make.user("operator"), make.user("buyer")
    dc = make.datacenter(seller, name="芜湖一号数据中心")
    product = make.product(seller, dc, name="A800 ×8 包月", price_on_demand_fen=5000)
    local_cluster(make, operator, dc, [product], tmp_path / "jobs", "main")
    top_up(make, operator, buyer, 100_000_000)
    r = make.client.post("/api/v1/orders", headers={**buyer["headers"], "Idempotency-Key": uuid.uuid4().hex},
                         json={"product_id": product["id"], "mode": "reserved", "units": 1, "term_months": 1})
    assert r.status_code == 201, r.text
    lease = r.json()["id"]
    job_id = submit_and_place(make, operator, buyer, name="on-lease", command="echo hi",
                              resources={"accelerators": 1, "chip": "a800"})

    web.login(buyer["email"], PASSWORD)
    html = web.get(f"/account/jobs/{job_id}").text
    assert section(html, "held-capacity").startswith("您的包年包月租约") and f'/account/orders/{lease}' in html
    assert section(html, "placement-reason") == f"在您的包年包月租约 {lease} 上（使用其 1 个单元；不另收费）"
    order_page = text_of(web.get(f"/account/orders/{lease}").text)
    assert "在此订单上运行的作业" in order_page and "您的作业正在使用其 1 个单元中的 1 个，不另收费" in order_page
    assert "on-lease" in order_page
    html = web.get(f"/account/jobs/{job_id}?lang=en").text
    assert section(html, "held-capacity").startswith("Your reserved lease")
    assert section(html, "placement-reason") == f"on your reserved lease {lease} (1 of its units; no further charge)"
