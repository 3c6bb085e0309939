"""Batch inference: generate completions for a JSON-lines file of prompts (suanli template).

Engines: vLLM's offline ``LLM.generate`` (CUDA; Ascend with vllm-ascend) or Hugging Face transformers
(any PyTorch device: CUDA, Ascend via torch_npu, Hygon DCU via DTK). Input rows are {"prompt": ...} (other
fields are kept); each output row adds "completion".

``--smoke`` runs the same pipeline in seconds without PyTorch: read (or synthesize) the prompts, generate in
batches with a tiny character model, write the outputs file and ``result.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import suanli_runtime as rt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="Qwen/Qwen2.5-7B-Instruct")
    p.add_argument("--input", default="prompts.jsonl")
    p.add_argument("--output", default="output/completions.jsonl")
    p.add_argument("--engine", choices=("vllm", "transformers"), default="vllm")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--tensor-parallel-size", type=int, default=1)
    p.add_argument("--output-dir", default="output")
    p.add_argument("--smoke", action="store_true", help="a seconds-long run without PyTorch (checks the setup)")
    args = p.parse_args(argv)
    if args.max_new_tokens < 1 or args.batch_size < 1 or args.tensor_parallel_size < 1:
        p.error("--max-new-tokens, --batch-size and --tensor-parallel-size must be >= 1")
    return args


def load_prompts(path: str) -> tuple[list[dict], str]:
    if os.path.exists(path):
        rows = rt.read_jsonl(path)
        bad = [n for n, row in enumerate(rows, 1) if not isinstance(row.get("prompt"), str)]
        if bad:
            raise SystemExit(f"{path}: rows {bad[:5]} have no string 'prompt'")
        return rows, path
    return [{"id": i, "prompt": f"question {i}: what is compute?"} for i in range(20)], "synthetic (20 prompts)"


def generate(args: argparse.Namespace, prompts: list[str]) -> list[str]:  # pragma: no cover - needs an accelerator
    if args.engine == "vllm":
        from vllm import LLM, SamplingParams

        llm = LLM(model=args.model, tensor_parallel_size=args.tensor_parallel_size)
        outputs = llm.generate(prompts, SamplingParams(max_tokens=args.max_new_tokens, temperature=0.0))
        return [o.outputs[0].text for o in outputs]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = rt.detect_device()["device"]
    tokenizer = AutoTokenizer.from_pretrained(args.model, padding_side="left")
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16).to(device).eval()
    texts = []
    for start in range(0, len(prompts), args.batch_size):
        batch = tokenizer(prompts[start:start + args.batch_size], return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=args.max_new_tokens, do_sample=False)
        texts += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    return texts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    device = rt.detect_device(import_torch=not args.smoke)
    rt.log(f"devices: {device['visible_devices'] or 'none visible'}")
    rows, source = load_prompts(args.input)
    prompts = [row["prompt"] for row in rows]
    rt.log(f"{len(prompts)} prompts from {source}")
    if args.smoke:
        model, completions = rt.TinyLM(), []
        tokens = min(args.max_new_tokens, 12)
        for start in range(0, len(prompts), args.batch_size):
            completions += [model.generate(p, tokens) for p in prompts[start:start + args.batch_size]]
            rt.log(f"batch {start // args.batch_size + 1}: {len(completions)}/{len(prompts)}")
    else:
        completions = generate(args, prompts)
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        for row, text in zip(rows, completions):
            handle.write(json.dumps({**row, "completion": text}, ensure_ascii=False) + "\n")
    seconds = time.time() - started
    result = {"template": "batch_infer", "mode": "smoke" if args.smoke else "full", "model": args.model,
              "engine": args.engine, "prompts": len(prompts), "completions": len(completions),
              "output": args.output, "device": device, "seconds": round(seconds, 3)}
    rt.write_json(os.path.join(args.output_dir, "result.json"), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
