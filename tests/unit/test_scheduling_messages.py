"""The scheduler's sentences in Chinese: every kind of placement reason, why-not-placed explanation, failover
error and job state detail renders through the zh_CN catalog with no English words left (chip names, ids, money,
numbers and units such as FP16 TFLOPS stay as they are), and the English text is the same as ``str()``."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from suanli.core.messages import from_json, render, to_json
from suanli.scheduling.failover import failure_reason, next_placement
from suanli.scheduling.model import Attempt, JobRequest, Offer, Placement, RunningSpot, Unplaceable
from suanli.scheduling.policy import schedule_round
from suanli.web.catalogs import area_of, extract_messages
from suanli.web.i18n import EN, ZH, say

# Words that are the same in both languages: units, chip and ecosystem names, the names of programs and of the
# cluster managers' job states.
KEPT = {"FP", "TFLOPS", "GiB", "vCPU", "cpu", "cuda", "cann",
        "Slurm", "PENDING", "OpenSSH", "sshd", "ssh-keygen", "JupyterLab", "bubblewrap", "bwrap"}
# A cluster option and the value it is set to, as an operator types them: ``instance_sandbox`` ``none``.
_OPTION = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b(?: 设为 none)?")
_WORD = re.compile(r"[A-Za-z][A-Za-z-]*[A-Za-z]")


def english_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(_OPTION.sub("", text)) if w not in KEPT]


def chinese(value, *, has_words: bool = True) -> str:
    """``value`` (a message or clauses) in Chinese, after a trip through JSON as the database stores it."""
    text = say(json.loads(json.dumps(to_json(value))), ZH)
    assert not has_words or re.search(r"[\u4e00-\u9fff]", text), text
    assert not english_words(text), (english_words(text), text)
    return text


def offer(pid: str, **kw) -> Offer:
    base = dict(product_id=pid, datacenter_id=f"d{pid[1:]}", cluster_id=f"c{pid[1:]}", province="北京",
                chip_key="h100", ecosystem="cuda", accel_memory_gib=80, fp16_tflops=989.4, accelerators_per_unit=8,
                vcpus_per_unit=128, memory_gib_per_unit=1024, free_units=1, price_per_unit_hour_fen=10_000)
    base.update(kw)
    return Offer(**base)


def placed(result) -> dict[str, Placement]:
    return {p.job_id: p for p in result.placements}


def both(p: Placement | Unplaceable) -> tuple[str, str]:
    """(English, Chinese) of a placement's reason or an unplaceable job's explanation."""
    english = p.reason if isinstance(p, Placement) else p.message
    assert render(p.reason_message) == english == say(to_json(p.reason_message), EN)
    return english, chinese(p.reason_message)


# ---------------------------------------------------------------- placement reasons

def test_cheapest_with_its_runner_up_and_fastest_read_in_chinese():
    offers = [offer("o1", price_per_unit_hour_fen=4_500), offer("o2", province="上海", price_per_unit_hour_fen=9_000)]
    english, text = both(schedule_round([JobRequest("j1", accelerators=8)], offers).placements[0])
    assert english == "cheapest feasible: ¥45.00/h for 8×h100 in 北京 (d1); next best ¥90.00/h (h100 in 上海)"
    assert text == "满足要求的报价中最便宜的：8×h100，位于北京（数据中心 d1），每小时 ¥45.00；次优报价：上海的 h100，每小时 ¥90.00"
    english, text = both(schedule_round([JobRequest("j1", accelerators=8, objective="time")], offers).placements[0])
    assert english.startswith("fastest feasible: 8×h100 (7,915 FP16 TFLOPS) at ¥45.00/h")
    assert text.startswith("满足要求的报价中最快的：8×h100（7,915 FP16 TFLOPS），位于北京（数据中心 d1），每小时 ¥45.00")


def test_the_only_offer_a_spot_job_and_a_job_without_accelerators():
    offers = [offer("o1", spot_floor_fen=500, vcpus_per_unit=32)]
    spot = JobRequest("j1", accelerators=8, mode="spot", bid_hourly_fen=10_000)
    english, text = both(schedule_round([spot], offers).placements[0])
    assert english == "cheapest feasible spot: ¥5.00/h for 8×h100 in 北京 (d1); the only feasible offer"
    assert text == "满足要求的竞价报价中最便宜的：8×h100，位于北京（数据中心 d1），每小时 ¥5.00；这是唯一满足要求的报价"
    offers = [offer("o1", free_units=4)]
    english, text = both(schedule_round([JobRequest("j2", vcpus=200)], offers).placements[0])
    assert "2 units of h100" in english and "2 个 h100 单元" in text


def test_preempted_spot_jobs_and_backfilling_are_explained():
    offers = [offer("o1", accelerators_per_unit=1, vcpus_per_unit=16, memory_gib_per_unit=128, free_units=0,
                    total_units=8, spot_floor_fen=500)]
    running = [RunningSpot("s1", "o1", 2, 900), RunningSpot("s2", "o1", 2, 800)]
    english, text = both(schedule_round([JobRequest("j1", accelerators=4)], offers, running).placements[0])
    assert "preempted spot jobs s2, s1" in english or "preempted spot jobs s1, s2" in english
    assert "抢占了竞价作业 s" in text
    offers = [offer("o1", chip_key="a800", fp16_tflops=312, accelerators_per_unit=1, vcpus_per_unit=16,
                    memory_gib_per_unit=128, free_units=4, total_units=8, releases=((60, 4),))]
    head = JobRequest("j1", accelerators=8, chip="a800", submit_seq=0, max_runtime_minutes=600)
    short = JobRequest("j2", accelerators=1, chip="a800", submit_seq=1, max_runtime_minutes=30)
    english, text = both(placed(schedule_round([head, short], offers))["j2"])
    assert english.endswith("; backfilled around job j1's reservation")
    assert text.endswith("；回填调度：在不推迟作业 j1 预留容量的前提下提前运行")


def test_a_job_placed_by_moving_another_says_so_and_so_does_the_moved_one():
    offers = [offer("o1", free_units=1, price_per_unit_hour_fen=1_000),
              offer("o2", province="上海", free_units=1, price_per_unit_hour_fen=2_000)]
    jobs = [JobRequest("j1", accelerators=8, submit_seq=0), JobRequest("j2", accelerators=8, provinces={"北京"},
                                                                         submit_seq=1)]
    result = placed(schedule_round(jobs, offers))
    english, text = both(result["j1"])
    assert english == ("moved to ¥20.00/h in 上海 (d2) from ¥10.00/h on o1 to make room for job j2; before: "
                       "cheapest feasible: ¥10.00/h for 8×h100 in 北京 (d1); next best ¥20.00/h (h100 in 上海)")
    assert text == ("为给作业 j2 腾出位置，已从报价 o1（每小时 ¥10.00）迁出，现位于上海（数据中心 d2），每小时 ¥20.00；"
                    "迁移前：满足要求的报价中最便宜的：8×h100，位于北京（数据中心 d1），每小时 ¥10.00；次优报价：上海的 h100，"
                    "每小时 ¥20.00")
    english, text = both(result["j2"])
    assert english.endswith("; made room by moving job j1") and "the only feasible offer" not in english
    assert text.endswith("；通过迁移作业 j1 腾出了位置")


def test_the_local_search_exchanges_and_moves_to_cheaper_offers_in_chinese():
    offers = [offer("o0", price_per_unit_hour_fen=3_000), offer("o1", province="上海", price_per_unit_hour_fen=1_500),
              offer("o2", province="广州", price_per_unit_hour_fen=1_000)]
    jobs = [JobRequest("j0", accelerators=8, provinces={"上海", "广州"}, submit_seq=0),
            JobRequest("j1", accelerators=8, provinces={"北京", "广州"}, submit_seq=1)]
    result = placed(schedule_round(jobs, offers, search_limit=0))
    assert both(result["j1"])[1] == ("与作业 j0 互换位置：报价 o2，每小时 ¥10.00，原为报价 o0 的每小时 ¥30.00"
                                     "（本轮总费用更低）")
    assert both(result["j0"])[1].startswith("为作业 j1 让出位置：报价 o1")
    offers = [offer("o0", price_per_unit_hour_fen=1_500), offer("o1", province="上海", price_per_unit_hour_fen=1_000),
              offer("o2", province="广州", price_per_unit_hour_fen=1_000, free_units=2),
              offer("o3", price_per_unit_hour_fen=2_000)]
    jobs = [JobRequest("j0", accelerators=8, submit_seq=0), JobRequest("j1", accelerators=8, provinces={"广州"},
                                                                         submit_seq=1),
            JobRequest("j2", accelerators=8, provinces={"上海", "北京"}, submit_seq=2),
            JobRequest("j3", accelerators=8, provinces={"北京"}, submit_seq=3)]
    english, text = both(placed(schedule_round(jobs, offers, search_limit=0))["j3"])
    assert english == "cheaper after other moves: ¥15.00/h in 北京 (d0) instead of ¥20.00/h on o3"
    assert text == "其他作业调整后有更便宜的位置：位于北京（数据中心 d0），每小时 ¥15.00，原为报价 o3 的每小时 ¥20.00"


def test_the_whole_round_search_in_chinese():
    offers = [offer("o0", price_per_unit_hour_fen=3_000), offer("o1", province="上海", price_per_unit_hour_fen=1_500),
              offer("o2", province="广州", price_per_unit_hour_fen=1_000)]
    jobs = [JobRequest("j0", accelerators=8, provinces={"上海", "广州"}, submit_seq=0),
            JobRequest("j1", accelerators=8, provinces={"北京", "广州"}, submit_seq=1)]
    english, text = both(placed(schedule_round(jobs, offers))["j1"])
    assert english == ("whole-round search: ¥10.00/h for 8×h100 in 广州 (d2) instead of ¥30.00/h on o0, so that the "
                       "round's jobs together cost less")
    assert text == "整轮优化：8×h100，位于广州（数据中心 d2），每小时 ¥10.00，取代报价 o0 的每小时 ¥30.00，使本轮作业的总费用更低"
    offers = [offer("o0", price_per_unit_hour_fen=3_000), offer("o1", province="上海", price_per_unit_hour_fen=3_000,
                                                                 free_units=2),
              offer("o2", province="广州", price_per_unit_hour_fen=1_000)]
    jobs = [JobRequest("j0", accelerators=8, provinces={"北京", "广州"}, submit_seq=0),
            JobRequest("j1", accelerators=8, submit_seq=1), JobRequest("j2", accelerators=8, provinces={"广州"},
                                                                       submit_seq=2),
            JobRequest("j3", accelerators=8, provinces={"上海", "北京"}, submit_seq=3)]
    english, text = both(placed(schedule_round(jobs, offers))["j2"])
    assert english.endswith("; placed by moving other jobs of this round to offers that cost the round less in total")
    assert text.endswith("；本轮其他作业已调整到使本轮总费用更低的报价，从而腾出了位置")


# ---------------------------------------------------------------- why not placed, failover

def test_every_constraint_and_hint_of_an_unplaceable_job_reads_in_chinese():
    strict = dict(accelerators=8, chip="h100", ecosystems={"cuda"}, min_accel_memory_gib=80, min_fp16_tflops=900,
                  provinces={"北京"}, datacenters={"d0"}, max_hourly_price_fen=20_000)
    offers = [offer("o1", chip_key="a800", fp16_tflops=312), offer("o2", ecosystem="cann"),
              offer("o3", accelerators_per_unit=4), offer("o4", accel_memory_gib=64), offer("o5", fp16_tflops=500),
              offer("o6", province="上海"), offer("o7"), offer("o8", datacenter_id="d0", price_per_unit_hour_fen=30_000),
              offer("o9", datacenter_id="d0", healthy=False), offer("o10", datacenter_id="d0", free_units=0,
                                                                     total_units=4)]
    job = JobRequest("j1", **strict, blocked_offers={"o7"})
    (u,) = schedule_round([job], offers).unplaceable
    english, text = both(u)
    assert english.startswith("job j1 (8× h100 (cuda, ≥80 GiB, ≥900 TFLOPS), in 北京/d0, ≤¥200.00/h): none of 10 "
                              "offers fits; eliminated by chip 1, ecosystem 1, count 1, memory 1, compute 1, region 1")
    assert text.startswith("作业 j1（8× h100（cuda, ≥80 GiB, ≥900 TFLOPS），限 北京/d0，每小时 ≤¥200.00）："
                           "10 个报价均不满足要求；排除原因：芯片不符 1 个，软件生态不符 1 个，资源池太小 1 个")
    for words in ("显存不足 1 个", "算力不足 1 个", "省份不在允许范围 1 个", "数据中心不在允许范围 1 个",
                  "超出价格上限 1 个", "暂无空闲容量 1 个", "集群不健康 1 个", "1 个报价在容量释放后即可容纳"):
        assert words in text, words
    # each hint, where one constraint eliminated the most offers
    for name, one in [("chip", offer("o1", chip_key="a800")), ("ecosystem", offer("o1", ecosystem="cann")),
                      ("count", offer("o1", accelerators_per_unit=4)), ("memory", offer("o1", accel_memory_gib=64)),
                      ("compute", offer("o1", fp16_tflops=500)), ("region", offer("o1", province="上海")),
                      ("datacenter", offer("o1")), ("price", offer("o1", price_per_unit_hour_fen=30_000)),
                      ("unhealthy", offer("o1", datacenter_id="d0", healthy=False))]:
        (u,) = schedule_round([JobRequest("j1", **strict)], [one]).unplaceable
        assert "most often: " in u.message, (name, u.message)
        assert "最常见的原因：" in both(u)[1]
    u = next_placement(JobRequest("j1", **strict), [offer("o1", datacenter_id="d0")],
                       [Attempt("o1", "c1", "boom", dt.datetime(2026, 3, 1, tzinfo=dt.UTC))])
    assert isinstance(u, Unplaceable)
    assert "most often: already failed there" in u.message and "最常见的原因：该作业此前在那里失败过" in both(u)[1]


def test_a_job_pinned_to_products_says_so_and_why_the_others_are_out_in_chinese():
    offers = [offer("o1"), offer("o2", free_units=0, total_units=2), offer("o3")]
    (u,) = schedule_round([JobRequest("j1", accelerators=8, products={"o2", "o9"})], offers).unplaceable
    english, text = both(u)
    assert english.startswith("job j1 (8× any chip, on product o2/o9): none of 3 offers fits; eliminated by "
                              "product 2, capacity_busy 1")
    assert "限产品 o2/o9" in text and "不是指定产品 2 个" in text
    (u,) = schedule_round([JobRequest("j1", accelerators=8, products={"o9"})], offers).unplaceable
    english, text = both(u)
    assert english.endswith("most often: not one of the chosen products")
    assert text.endswith("最常见的原因：不是指定的产品")


def test_reservations_held_capacity_spot_requests_and_an_empty_market():
    busy = [offer("o1", chip_key="a800", fp16_tflops=312, accelerators_per_unit=1, vcpus_per_unit=16,
                  memory_gib_per_unit=128, free_units=4, total_units=8, releases=((60, 4),))]
    head = JobRequest("j1", accelerators=8, chip="a800", submit_seq=0)
    long = JobRequest("j2", accelerators=1, chip="a800", submit_seq=1)
    unplaced = {u.job_id: u for u in schedule_round([head, long], busy).unplaceable}
    english, text = both(unplaced["j1"])
    assert english.endswith("; reserved 8 units of o1 in 60 min") and text.endswith("；已预留报价 o1 的 8 个单元，60 分钟后可用")
    english, text = both(unplaced["j2"])
    assert "1 would fit once capacity frees (1 held for job j1)" in english
    assert "1 个报价在容量释放后即可容纳（其中 1 个为作业 j1 预留）" in text
    no_releases = [offer("o1", free_units=0, total_units=2)]
    (u,) = schedule_round([JobRequest("j1", accelerators=8)], no_releases).unplaceable
    assert both(u)[1].endswith("已预留报价 o1 的 1 个单元，待运行中的作业释放容量后可用")
    spot = JobRequest("j1", accelerators=0, vcpus=8, memory_gib=16, mode="spot", bid_hourly_fen=100)
    (u,) = schedule_round([spot], []).unplaceable
    english, text = both(u)
    assert english == "job j1 (8 vCPUs, 16 GiB memory, ≤¥1.00/h, spot): no offers in the market"
    assert text == "作业 j1（8 个 vCPU，16 GiB 内存，每小时 ≤¥1.00，竞价）：市场上没有任何报价"
    any_chip = JobRequest("j1", accelerators=4, min_accel_memory_gib=80)
    (u,) = schedule_round([any_chip], []).unplaceable
    assert "4× 任意芯片（≥80 GiB）" in both(u)[1]


def test_failover_error_lists_the_attempts_in_chinese():
    at = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
    offers = [offer("o1", cluster_id="c1")]
    attempts = [Attempt("o1", "c1", "image pull failed", at), Attempt("o1", "c1", "node lost", at, cluster_failed=True)]
    last = next_placement(JobRequest("j1", accelerators=8), offers, attempts)
    assert isinstance(last, Unplaceable)
    failure = failure_reason("j1", attempts, last)
    assert str(failure).startswith("job j1 failed after 2 attempts: 1) 2026-03-01T08:00:00+00:00 offer o1 failed "
                                   "(cluster c1): image pull failed; 2) ")
    text = say(to_json(failure), ZH)
    assert text.startswith("作业 j1 尝试 2 次后失败：1) 2026-03-01T08:00:00+00:00 报价 o1 失败（集群 c1）：image pull "
                           "failed；2) 2026-03-01T08:00:00+00:00 集群 c1 故障（集群 c1）：node lost。已无可用的位置：作业 j1")
    assert say(failure_reason("j1", []), ZH) == "作业 j1 从未被调度"


# ---------------------------------------------------------------- every template of the scheduler and the jobs

ENGINE_TEMPLATES = sorted(m for m, files in extract_messages().items()
                          if any(area_of(f) == "scheduling" for f in files))


def test_the_catalog_reads_the_scheduler_and_the_jobs_templates():
    assert len(ENGINE_TEMPLATES) > 60
    for template in ("requeued: %(reason)s", "spot capacity taken by on-demand job %(job)s",
                     "its spot order was preempted by on-demand or reserved demand",
                     "submit to cluster %(cluster)s (%(kind)s) failed: %(error)s", "waiting for the scheduler"):
        assert template in ENGINE_TEMPLATES


@pytest.mark.parametrize("template", ENGINE_TEMPLATES)
def test_every_template_translates_with_no_english_word_left(template):
    """Requeue reasons, state details and every clause above: filled in with numbers, no English is left."""
    values = {name: "7" for name in re.findall(r"%\((\w+)\)s", template)}
    message = from_json({"msg": template, "args": values})
    chinese(message, has_words=bool(english_words(re.sub(r"%\(\w+\)s", "", template))))
