"""The template catalog (pure) and the template scripts' smoke versions, run as real processes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from suanli.core.templates import TEMPLATE_KINDS, TEMPLATES, template_for_workload
from suanli.templates import get_template, list_templates, script_files
from suanli.errors import InvalidInput, NotFound

LORA = TEMPLATES["lora-finetune-cuda"]


def test_the_catalog_covers_the_issue_list():
    have = {(t.kind, t.ecosystem) for t in TEMPLATES.values()}
    assert {("finetune", "cuda"), ("finetune", "cann"), ("finetune", "dtk"), ("serving", "cuda"),
            ("serving", "cann"), ("batch_inference", "cuda"), ("hpc", None)} <= have
    for t in TEMPLATES.values():
        assert t.kind in TEMPLATE_KINDS
        assert t.environment.image and t.environment.pip and all("==" in p for p in t.environment.pip)
        files = script_files(t)
        assert set(files) == set(t.files) and t.script in files
        compile(files[t.script], t.script, "exec")  # the real (non-smoke) code at least parses
        assert t.command().startswith(("python3 ", "mpirun ")) and "--smoke" not in t.command()
        assert t.command(smoke=True).endswith("--smoke")


def test_ecosystem_specific_environments():
    assert "torch_npu" in " ".join(TEMPLATES["lora-finetune-cann"].environment.pip)
    assert "dtk" in TEMPLATES["lora-finetune-dtk"].environment.image
    assert "vllm-ascend" in " ".join(TEMPLATES["vllm-serve-cann"].environment.pip)
    assert not any(p.startswith("torch==") for p in TEMPLATES["lora-finetune-dtk"].environment.pip)


def test_parameters_have_defaults_and_are_validated():
    assert LORA.resolve()["lora_rank"] == 16
    assert LORA.resolve({"lora_rank": "8"})["lora_rank"] == 8
    assert "--lora-rank 8 " in LORA.command({"lora_rank": 8})
    cases = [({"lora_rank": 0}, "lora_rank: must be >= 1"), ({"lora_rank": 2.5}, "lora_rank: must be a whole"),
             ({"lora_rank": True}, "lora_rank"), ({"method": "dora"}, "method: must be one of lora, qlora"),
             ({"lr": "fast"}, "lr: must be a number"), ({"model": "a\nb"}, "model: must be one line"),
             ({"epochs": float("nan")}, "epochs: must be finite"), ({"nope": 1}, "nope: template lora-finetune-cuda "
                                                                                 "has no parameter")]
    for values, message in cases:
        with pytest.raises(ValueError, match=message):
            LORA.command(values)


def test_shell_metacharacters_stay_one_argument():
    command = LORA.command({"model": "x; rm -rf /"})
    assert "'x; rm -rf /'" in command


def test_smoke_overrides_and_mpi_launcher():
    assert "--max-steps 40" in LORA.command({"max_steps": 1000}, smoke=True)
    stencil = TEMPLATES["cpu-hpc-stencil"]
    assert stencil.command({"ranks": 4}).startswith("mpirun -np 4 python3 heat_stencil.py")
    assert stencil.command({"ranks": 4}, smoke=True).startswith("python3 ")
    assert "--ranks" not in stencil.command({"ranks": 4})


def test_default_template_per_workload_and_ecosystem():
    assert template_for_workload("llm_finetune", "cann").id == "lora-finetune-cann"
    assert template_for_workload("llm_inference", "cuda").id == "vllm-serve-cuda"
    assert template_for_workload("cpu", None).id == "cpu-hpc-stencil"
    assert template_for_workload("llm_inference", "dtk") is None
    assert template_for_workload("dl_training", "cuda") is None


def test_listing_filters_and_errors():
    assert {t.id for t in list_templates(ecosystem="cann")} == {"lora-finetune-cann", "vllm-serve-cann",
                                                                "batch-inference-cann"}
    assert [t.id for t in list_templates(ecosystem="cpu")] == ["cpu-hpc-stencil"]
    assert all(t.kind == "serving" for t in list_templates(kind="serving"))
    with pytest.raises(InvalidInput, match="ecosystem"):
        list_templates(ecosystem="opencl")
    with pytest.raises(InvalidInput, match="kind"):
        list_templates(kind="mining")
    with pytest.raises(NotFound):
        get_template("nope")


@pytest.mark.parametrize("template_id", sorted(TEMPLATES))
def test_each_smoke_version_runs_in_seconds(template_id, tmp_path):
    template = TEMPLATES[template_id]
    for name, text in script_files(template).items():
        (tmp_path / name).write_text(text)
    argv = template.command(smoke=True).split()
    assert argv[0] == "python3"
    env = {"PATH": "/usr/bin:/bin", "HIP_VISIBLE_DEVICES": "2,3"}
    run = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "output" / "result.json").read_text())
    assert result["mode"] == "smoke"
    assert result["device"]["visible_devices"] == {"HIP_VISIBLE_DEVICES": ["2", "3"]}
    assert "RESULT {" in run.stdout


def _script_module(name: str):
    scripts = Path(importlib.util.find_spec("suanli.templates.scripts").origin).parent
    sys.path.insert(0, str(scripts))
    try:
        spec = importlib.util.spec_from_file_location(f"_template_{name}", scripts / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(scripts))


def test_the_stencil_kernels_agree_and_converge():
    stencil = _script_module("heat_stencil")
    n_iter, _, mean_np = stencil.solve_numpy(24, 30, 0.0, None)
    _, _, mean_py = stencil.solve_python(24, 30, 0.0)
    assert n_iter == 30 and mean_np == pytest.approx(mean_py, rel=1e-12)
    done, delta, mean = stencil.solve_numpy(12, 100_000, 1e-9, None)
    assert done < 100_000 and delta < 1e-9  # converged: the interior settles between the hot edge and cold ones
    assert 0 < mean < 100


def test_the_lora_smoke_learns_the_low_rank_update(tmp_path):
    lora = _script_module("lora_finetune")
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"say {i}", "output": str(i)}) + "\n" for i in range(10)))
    args = lora.parse_args(["--smoke", "--dataset", str(data), "--max-steps", "60", "--lora-rank", "4"])
    work = lora.smoke(args)
    assert work["records"] == 10 and work["steps"] == 60
    assert work["loss_last"] < 0.2 * work["loss_first"]
    assert work["trainable_params"] == 2 * 4 * 16 and work["frozen_params"] == 16 * 16
    with pytest.raises(SystemExit):
        lora.parse_args(["--lora-rank", "0"])


def test_qlora_is_offered_only_where_bitsandbytes_exists():
    assert TEMPLATES["lora-finetune-cuda"].resolve({"method": "qlora"})["method"] == "qlora"
    for template_id in ("lora-finetune-cann", "lora-finetune-dtk"):
        with pytest.raises(ValueError, match="method: must be one of lora; got 'qlora'"):
            TEMPLATES[template_id].resolve({"method": "qlora"})
    assert TEMPLATES["batch-inference-dtk"].resolve()["engine"] == "transformers"


def test_the_runtime_logs_in_beijing_time_whatever_the_nodes_zone(capsys, monkeypatch):
    import time

    import suanli.templates

    path = Path(suanli.templates.__file__).parent / "scripts" / "suanli_runtime.py"
    spec = importlib.util.spec_from_file_location("suanli_runtime_under_test", path)
    runtime = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runtime)
    monkeypatch.setattr(time, "time", lambda: 1_796_660_703.0)  # 2026-12-07 16:25:03 UTC
    runtime.log("step 1")
    assert capsys.readouterr().out == "[00:25:03 UTC+8] step 1\n"
