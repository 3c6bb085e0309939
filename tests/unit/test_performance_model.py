"""The training performance model (``suanli.core.estimates.performance``) and the ``dl_training`` estimate."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from suanli.core.chips import get_chip
from suanli.core.estimates import REFERENCE_MODELS, estimate, load_params, reference_model, training_throughput
from suanli.core.estimates.performance import LAYER_TYPES, peak_for, step_time, topology
from suanli.core.workloads import GenericTraining

A100, V100, H100, T4, K80, P100 = (get_chip(k) for k in ("a100", "v100-16gb", "h100", "t4", "k80", "p100"))
RESNET50 = REFERENCE_MODELS["resnet50"]


def rate(chip, precision="amp", flops=RESNET50.flops_per_sample, params=RESNET50.params, batch=256, count=1,
         **topo):
    return training_throughput(chip, precision, flops, params, batch, topology(chip, count, **topo))


def test_packaged_parameters_are_physical_and_ranges_bracket_the_estimate():
    p = load_params()
    for u in (p.u_fp32, p.u_tf32, p.u_amp):
        assert 0.05 <= u <= 0.95
    assert 0 < p.step_overhead_s <= 0.015
    assert p.range_low < 1.0 < p.range_high
    data = json.loads((resources.files("suanli.core.estimates") / "performance_model.json").read_text())
    assert data["summary"]["held_out_chip"]["rows"] == data["summary"]["fit_rows"]  # every row was held out once


def test_bigger_batches_are_faster_per_sample_but_saturate():
    small, medium, large = (rate(V100, batch=b).samples_per_s for b in (8, 64, 512))
    assert small < medium < large
    assert large / medium < medium / small  # diminishing returns: the fixed per-step cost is amortised
    assert rate(V100, batch=8).step.bottleneck == "overhead"


def test_mixed_precision_gains_less_than_the_tensor_core_peak_ratio():
    fp32, amp = rate(V100, "fp32").samples_per_s, rate(V100, "amp").samples_per_s
    assert 1.5 < amp / fp32 < V100.fp16_tflops / V100.fp32_tflops
    tf32, amp_a100 = rate(A100, "tf32").samples_per_s, rate(A100, "amp").samples_per_s
    assert 1.0 < amp_a100 / tf32 < 2.0


def test_chips_without_tensor_cores_run_amp_on_their_vector_units_with_a_note():
    peak, path, notes = peak_for(P100, "amp")
    assert (peak, path) == (P100.fp16_tflops, "fp32") and "no FP16 tensor units" in str(notes[0])
    assert peak_for(K80, "tf32")[1] == "fp32"


def test_generations_order_as_their_datasheets():
    rates = [rate(chip, "fp32").samples_per_s for chip in (K80, P100, V100, A100)]
    assert rates == sorted(rates)
    # the A100 is not credited with its whole TF32 peak ratio over a V100's FP32
    assert rate(A100, "tf32").samples_per_s / rate(V100, "fp32").samples_per_s < A100.tf32_tflops / V100.fp32_tflops


def test_a_model_with_almost_no_flops_is_bound_by_memory_and_overhead_not_by_peak():
    ncf = REFERENCE_MODELS["ncf"]
    tp = rate(A100, flops=ncf.flops_per_sample, params=ncf.params, batch=4096)
    assert tp.step.bottleneck in ("overhead", "memory_bandwidth")
    assert tp.samples_per_s < 0.02 * A100.fp16_tflops * 1e12 / ncf.flops_per_sample
    assert tp.flops_utilisation < 0.02


def test_communication_depends_on_gradients_links_and_servers():
    bert = REFERENCE_MODELS["bert_large"]
    one = rate(A100, flops=bert.flops_per_sample, params=bert.params, batch=16)
    nvlink8 = rate(A100, flops=bert.flops_per_sample, params=bert.params, batch=16, count=8)
    t4_two_servers = rate(T4, flops=bert.flops_per_sample, params=bert.params, batch=8, count=8, servers=2)
    t4_one = rate(T4, flops=bert.flops_per_sample, params=bert.params, batch=8)
    # within an NVLink server only the wait for the slowest device costs much (Lambda: 0.61-0.94 at 8 GPUs)
    assert 0.65 < nvlink8.samples_per_s / (8 * one.samples_per_s) <= 1.0
    scaling = t4_two_servers.samples_per_s / (8 * t4_one.samples_per_s)
    assert scaling < 0.6 and t4_two_servers.step.bottleneck == "interconnect"
    faster_network = rate(T4, flops=bert.flops_per_sample, params=bert.params, batch=8, count=8, servers=2,
                          network_gbps=400)
    assert faster_network.samples_per_s > t4_two_servers.samples_per_s


def test_topology_defaults_and_refusals():
    assert topology(A100, 16).servers == 2 and topology(A100, 16).gpus_per_server == 8
    assert topology(T4, 8, gpus_per_server=4).servers == 2
    assert topology(A100, 8).network_gbps == 1600 and topology(T4, 8, servers=2).network_gbps == 50
    with pytest.raises(ValueError, match="^servers:"):
        topology(A100, 2, servers=3)
    with pytest.raises(ValueError, match="^gpus_per_server:"):
        topology(A100, 16, servers=2, gpus_per_server=4)


def test_step_time_parts_add_up():
    topo = topology(A100, 8)
    step = step_time(A100, "amp", RESNET50.flops_per_sample, RESNET50.params, 256, topo, load_params())
    busy = step.fixed + step.math + step.memory + step.update + step.comm_exposed
    assert step.total == pytest.approx(busy + step.sync)
    assert step.sync == pytest.approx(busy * load_params().straggler * 3)  # log2(8) = 3
    assert 0 <= step.comm_exposed <= step.comm


def test_reference_models_count_training_flops_as_six_forward_multiply_adds():
    for model in REFERENCE_MODELS.values():
        assert model.flops_per_sample == pytest.approx(6 * model.forward_macs)
        assert 0 <= model.embedding_params < model.params
    assert reference_model("BERT-large").key == "bert_large"
    with pytest.raises(KeyError, match="known models"):
        reference_model("alexnet-3000")


def test_dl_training_estimate_reports_samples_per_second_hours_and_bottleneck():
    job = GenericTraining(model="resnet50", samples=1_281_167, epochs=2, precision="amp", batch_size=256)
    est = estimate(job, A100, 8)
    assert est.samples_per_s_low < est.samples_per_s < est.samples_per_s_high
    assert est.hours == pytest.approx(1_281_167 * 2 / est.samples_per_s / 3600)
    assert est.hours_low < est.hours < est.hours_high
    assert est.sample_unit == "image" and est.batch_per_device == 256 and est.servers == 1
    assert set(est.step_time_ms) == {"total", "compute", "memory_bandwidth", "overhead", "interconnect"}
    assert 0 < est.mfu < 1
    assert any("80% of held-out" in str(n) for n in est.notes)
    # the advisor's units are servers: 16 GPUs as 4 servers of 4 cannot beat 2 servers of 8 on the same chip
    assert estimate(job, A100, 16, servers=4).samples_per_s <= estimate(job, A100, 16, servers=2).samples_per_s


def test_throughput_only_without_samples_and_warnings_for_forward_counts():
    est = estimate(GenericTraining(flops_per_sample=1.8e8, params_m=110, batch_size=64), V100, 1)
    assert est.hours is None and est.samples_per_s > 0
    assert any("forward multiply-adds" in str(n) for n in est.notes)  # fewer FLOPs than 2 x parameters
    # a named model given its model card's forward count
    est = estimate(GenericTraining(model="resnet50", flops_per_sample=4.09e9, batch_size=64), V100, 1)
    assert any("training FLOPs are 6 x that" in str(n) for n in est.notes)
    est = estimate(GenericTraining(flops_per_sample=1e9), V100, 1)
    assert any("parameters not given" in str(n) for n in est.notes)
    assert any("batch size not given" in str(n) for n in est.notes)


def test_domestic_chips_get_a_wider_range():
    job = GenericTraining(model="resnet50", samples=10**6, precision="amp")
    nvidia, ascend = estimate(job, A100, 1), estimate(job, get_chip("ascend-910b"), 1)
    assert ascend.samples_per_s_high / ascend.samples_per_s > nvidia.samples_per_s_high / nvidia.samples_per_s
    assert any("widened" in str(n) for n in ascend.notes)


def test_image_size_and_sequence_length_rescale_a_named_model():
    base = estimate(GenericTraining(model="resnet50", batch_size=64), V100, 1)
    bigger = estimate(GenericTraining(model="resnet50", batch_size=64, image_size=448), V100, 1)
    assert bigger.samples_per_s < base.samples_per_s / 2.5  # 4x the pixels
    short = estimate(GenericTraining(model="bert_large", batch_size=32, seq_len=128), V100, 1)
    assert short.samples_per_s > 2 * estimate(GenericTraining(model="bert_large", batch_size=32), V100, 1).samples_per_s
    assert REFERENCE_MODELS["resnet50"].image_side == 224 and REFERENCE_MODELS["bert_base"].sequence_tokens == 384


def test_geforce_tensor_paths_get_the_fitted_factor_and_nothing_else_does():
    from dataclasses import replace

    p = load_params()
    plain = replace(p, geforce_tensor=1.0)
    rtx4090, a6000 = get_chip("rtx4090"), get_chip("rtx-a6000")
    topo = topology(rtx4090, 1)
    for chip in (rtx4090, a6000):
        for precision in ("amp", "fp32"):
            fitted = step_time(chip, precision, RESNET50.flops_per_sample, RESNET50.params, 256, topo, p)
            neutral = step_time(chip, precision, RESNET50.flops_per_sample, RESNET50.params, 256, topo, plain)
            changed = chip is rtx4090 and precision == "amp" and p.geforce_tensor != 1.0
            assert (fitted.math < neutral.math) == changed


def test_a_fitted_architecture_factor_scales_the_estimate_and_unfitted_classes_do_not():
    p = load_params()
    speech = p.architecture_factor("speech")
    assert speech < 1.0  # Tacotron 2 and WaveGlow run far below what their FLOPs imply
    assert p.architecture_factor(None) == p.architecture_factor("cnn") == p.architecture_factor("gan") == 1.0
    job = {"flops_per_sample": 1.5e8, "params_m": 28, "batch_size": 27360, "precision": "amp"}
    plain = estimate(GenericTraining(**job), A100, 1)
    as_speech = estimate(GenericTraining(**job, architecture="tts"), A100, 1)
    as_cnn = estimate(GenericTraining(**job, architecture="cnn"), A100, 1)
    assert as_cnn.samples_per_s == plain.samples_per_s
    assert as_speech.samples_per_s < plain.samples_per_s * (1 + speech) / 2
    assert any("speech models: the measured models" in str(n) for n in as_speech.notes)
    assert any("no class factor" in str(n) for n in as_cnn.notes)
    assert any("architecture not given" in str(n) for n in plain.notes)
    # a named model brings its class
    assert estimate(GenericTraining(model="tacotron2"), A100, 1).samples_per_s == pytest.approx(
        estimate(GenericTraining(flops_per_sample=REFERENCE_MODELS["tacotron2"].flops_per_sample, params_m=28.2,
                                 batch_size=48 * 570, architecture="speech"), A100, 1).samples_per_s)


def test_architecture_words_and_refusals():
    assert GenericTraining(flops_per_sample=1e9, architecture="LSTM").architecture == "rnn"
    assert GenericTraining(flops_per_sample=1e9, architecture="embedding").architecture == "recommendation"
    with pytest.raises(ValueError, match="architecture: must be one of cnn, transformer, rnn"):
        GenericTraining(flops_per_sample=1e9, architecture="capsule")


def test_forward_gflops_typed_as_flops_are_refused_with_the_number_to_type():
    with pytest.raises(ValueError, match=r"did you mean 73.6e9 x 6 = 4.42e\+11"):
        GenericTraining(flops_per_sample=73.6)


def test_parameters_round_trip_through_json_with_their_architecture_factors():
    p = load_params()
    assert type(p).from_json(json.loads(json.dumps(p.to_json()))) == p


def test_a_stated_data_pipeline_rate_caps_the_estimate_per_server():
    job = {"model": "resnet50", "precision": "amp", "batch_size": 256, "samples": 1_000_000}
    free = estimate(GenericTraining(**job), A100, 16, servers=2)
    capped = estimate(GenericTraining(**job, input_samples_per_s=2000), A100, 16, servers=2)
    assert free.samples_per_s > 4000 and free.bottleneck != "input_pipeline"
    assert capped.samples_per_s == capped.samples_per_s_high == 4000  # 2,000 per server x 2 servers
    assert capped.bottleneck == "input_pipeline" and capped.hours == pytest.approx(1_000_000 / 4000 / 3600)
    assert capped.mfu == pytest.approx(free.mfu * 4000 / free.samples_per_s)
    assert any("capped by the data pipeline" in str(n) for n in capped.notes)
    # a cap above what the devices do changes nothing
    assert estimate(GenericTraining(**job, input_samples_per_s=1e7), A100, 16, servers=2).samples_per_s == \
        free.samples_per_s
    with pytest.raises(ValueError, match="input_samples_per_s"):
        GenericTraining(**job, input_samples_per_s=0)


def test_an_unnamed_models_forward_count_is_recognised_as_a_model_cards_figure():
    # 4.1e9 is what ResNet-50's model card calls "4.1 GFLOPs": forward multiply-adds, not training FLOPs
    est = estimate(GenericTraining(flops_per_sample=4.1e9, params_m=25.6, batch_size=64), V100, 1)
    warned = [str(n) for n in est.notes if "forward multiply-add count" in str(n)]
    assert len(warned) == 1 and "ResNet-50" in warned[0] and "2.45e+10" in warned[0] and "model=resnet50" in warned[0]
    # real training FLOPs (6 x that) raise no such note
    est = estimate(GenericTraining(flops_per_sample=2.45e10, params_m=25.6, batch_size=64), V100, 1)
    assert not any("forward multiply-add count" in str(n) for n in est.notes)


def test_older_generation_models_and_the_dgx1_p100_are_described():
    from suanli.core.chips import resolve_chip

    sxm2 = resolve_chip("Tesla P100 SXM2")
    assert sxm2 is not None and sxm2.key == "p100-sxm2" and resolve_chip("P100").key == "p100"
    assert sxm2.interconnect_gbs and sxm2.fp32_tflops > P100.fp32_tflops
    assert peak_for(sxm2, "amp")[1] == "fp32"  # Pascal has no tensor cores: mixed precision on the vector units
    for key in ("resnet152", "inception_v3", "vgg16", "alexnet"):
        model = reference_model(key)
        assert model.architecture == "cnn" and model.image_side in (224, 299)
        est = estimate(GenericTraining(model=key, batch_size=64, precision="fp32"), K80, 8)
        assert est.samples_per_s_low < est.samples_per_s < est.samples_per_s_high
    assert reference_model("Inception-v3").key == "inception_v3"


def test_every_published_measurement_row_resolves_to_a_chip_model_and_topology():
    import csv
    from pathlib import Path

    from suanli.core.chips import get_chip as chip_of

    data = Path(__file__).resolve().parents[2] / "bench" / "data"
    files = sorted(data.glob("dl_training_*.csv"))
    assert {f.name for f in files} >= {"dl_training_measurements.csv", "dl_training_nvidia_dle.csv",
                                      "dl_training_tf_benchmarks.csv"}
    for path in files:
        if path.name == "dl_training_domestic.csv":
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                assert rec["source"], path.name
                chip = chip_of(rec["chip"])
                reference_model(rec["model"])
                assert rec["precision"] in ("fp32", "tf32", "amp")
                count, servers = int(rec["count"]), int(rec["servers"])
                per_server = int(rec["gpus_per_server"]) if rec.get("gpus_per_server") else None
                topo = topology(chip, count, servers=servers, gpus_per_server=per_server)
                assert topo.servers * topo.gpus_per_server >= count
                assert float(rec["samples_per_s"]) > 0 and float(rec["batch_per_device"]) > 0


def test_each_layer_types_fitted_speed_scales_its_share_of_the_work():
    from dataclasses import replace

    p = replace(load_params(), layer_factors=(("conv3x3", 2.0), ("recurrent", 0.5)), architecture_factors=())
    topo = topology(A100, 1)

    def math_s(mix):
        return step_time(A100, "amp", 1e10, 25e6, 64, topo, p, layer_mix=mix).math

    plain = math_s(None)
    assert math_s((("dense", 1.0),)) == pytest.approx(plain)  # no factor: the global fractions
    assert math_s((("conv3x3", 1.0),)) == pytest.approx(plain / 2)
    assert math_s((("recurrent", 1.0),)) == pytest.approx(plain * 2)
    assert math_s((("conv3x3", 0.5), ("dense", 0.5))) == pytest.approx(plain * (0.25 + 0.5))


def test_every_reference_model_has_its_flops_by_layer_type_and_no_packaged_factor_changes_them():
    for key, model in REFERENCE_MODELS.items():
        assert model.layer_mix and sum(s for _, s in model.layer_mix) == pytest.approx(1.0), key
        assert {kind for kind, _ in model.layer_mix} <= set(LAYER_TYPES), key
    p = load_params()
    assert p.layer_factors == ()  # none fitted: every variant made held-out models worse (docs/benchmarks.md)
    assert p.layer_speed(reference_model("vgg16").layer_mix) == 1.0
