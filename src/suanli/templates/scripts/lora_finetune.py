"""LoRA / QLoRA fine-tuning of a causal language model with PyTorch + PEFT (suanli template).

One script for NVIDIA CUDA, Huawei Ascend (torch_npu on CANN, device 'npu') and Hygon DCU (DTK's ROCm/HIP build
of PyTorch, device 'cuda'): the device is detected at start. The dataset is a JSON-lines file of
{"instruction", "input", "output"} or {"text"} records, or a Hugging Face dataset name.

``--smoke`` runs the same steps in seconds without PyTorch: read (or synthesize) the dataset, tokenize it,
train a rank-r adapter on a frozen random layer with the LoRA update rule, report the loss, and write
``result.json`` (and the devices the scheduler gave the job).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

import suanli_runtime as rt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="Qwen/Qwen2.5-7B-Instruct", help="Hugging Face model id or local path")
    p.add_argument("--dataset", default="train.jsonl", help="JSON-lines file or Hugging Face dataset name")
    p.add_argument("--method", choices=("lora", "qlora"), default="lora")
    p.add_argument("--lora-rank", type=int, default=16)
    p.add_argument("--lora-alpha", type=int, default=32)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimizer steps (-1: epochs)")
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--micro-batch", type=int, default=1)
    p.add_argument("--grad-accum", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--precision", choices=("bf16", "fp16"), default="bf16")
    p.add_argument("--output-dir", default="output")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--smoke", action="store_true", help="a seconds-long run without PyTorch (checks the setup)")
    args = p.parse_args(argv)
    if args.lora_rank < 1 or args.seq_len < 8 or args.micro_batch < 1 or args.grad_accum < 1 or args.lr <= 0:
        p.error("--lora-rank, --seq-len, --micro-batch, --grad-accum and --lr must be positive")
    return args


def records_to_texts(rows: list[dict]) -> list[str]:
    texts = []
    for row in rows:
        if "text" in row:
            texts.append(str(row["text"]))
        else:
            prompt = "\n".join(str(row[k]) for k in ("instruction", "input") if row.get(k))
            texts.append(f"### Instruction:\n{prompt}\n### Response:\n{row.get('output', '')}")
    return texts


# ---------------------------------------------------------------- smoke: the LoRA update on a tiny layer

def smoke(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    if os.path.exists(args.dataset):
        texts = records_to_texts(rt.read_jsonl(args.dataset))
        source = args.dataset
    else:
        texts = [f"### Instruction:\nsum {a} and {b}\n### Response:\n{a + b}" for a, b in
                 ((rng.randrange(100), rng.randrange(100)) for _ in range(32))]
        source = "synthetic (32 records)"
    rt.log(f"dataset: {source}, {len(texts)} records")
    d, r = 16, min(args.lora_rank, 4)
    vocab = sorted({c for t in texts for c in t})
    table = rt.random_matrix(len(vocab), d, rng)
    index = {c: i for i, c in enumerate(vocab)}
    x = []  # one feature row per record: the mean embedding of its first seq_len characters
    for text in texts:
        ids = [index[c] for c in text[:args.seq_len]] or [0]
        rows = [list(table[i]) for i in ids]
        x.append([sum(col) / len(rows) for col in zip(*rows)])
    frozen = rt.random_matrix(d, d, rng, scale=0.5)
    delta = rt.matmul(rt.random_matrix(d, r, rng, 0.5), rt.random_matrix(r, d, rng, 0.5))  # the low-rank truth
    target = rt.matmul(x, rt.transpose(rt.add(frozen, delta)))
    a = rt.random_matrix(r, d, rng, 0.1)  # LoRA: A random, B zero, W frozen
    b = rt.scaled(rt.random_matrix(d, r, rng), 0.0)
    n = len(x)
    steps = args.max_steps if args.max_steps > 0 else max(1, int(20 * args.epochs))
    lr = 0.1 * d
    losses = []
    base = rt.matmul(x, rt.transpose(frozen))
    for step in range(1, steps + 1):
        h = rt.matmul(x, rt.transpose(a))
        err = rt.add(rt.add(base, rt.matmul(h, rt.transpose(b))), target, -1.0)
        losses.append(rt.mean_square(err))
        dy = rt.scaled(err, 2.0 / (n * d))
        grad_b = rt.matmul(rt.transpose(dy), h)
        grad_a = rt.matmul(rt.transpose(rt.matmul(dy, b)), x)
        b = rt.add(b, grad_b, -lr)
        a = rt.add(a, grad_a, -lr)
        if step == 1 or step % 10 == 0 or step == steps:
            rt.log(f"step {step}/{steps} loss {losses[-1]:.5f}")
    return {"dataset": source, "records": len(texts), "steps": steps, "loss_first": losses[0],
            "loss_last": losses[-1], "trainable_params": rt.size(a) + rt.size(b), "frozen_params": rt.size(frozen)}


# ---------------------------------------------------------------- the real run

def train(args: argparse.Namespace, device: dict) -> dict:  # pragma: no cover - needs PyTorch and an accelerator
    import torch
    from datasets import Dataset, load_dataset
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer,
                              TrainingArguments)

    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float16
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs = {"torch_dtype": dtype, "trust_remote_code": True}
    if args.method == "qlora":
        from transformers import BitsAndBytesConfig  # CUDA only: bitsandbytes has no NPU/DCU build everywhere

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_use_double_quant=True,
                                                           bnb_4bit_compute_dtype=dtype)
    model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs)
    if args.method == "qlora":
        model = prepare_model_for_kbit_training(model)
    elif device["device"] != "cpu":
        model = model.to(device["device"])
    model = get_peft_model(model, LoraConfig(r=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=0.05,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    model.print_trainable_parameters()
    if os.path.exists(args.dataset):
        data = Dataset.from_dict({"text": records_to_texts(rt.read_jsonl(args.dataset))})
    else:
        data = load_dataset(args.dataset, split="train")
        if "text" not in data.column_names:
            data = data.map(lambda row: {"text": records_to_texts([row])[0]})
    data = data.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=args.seq_len),
                    batched=True, remove_columns=data.column_names)
    training = TrainingArguments(output_dir=args.output_dir, per_device_train_batch_size=args.micro_batch,
                                 gradient_accumulation_steps=args.grad_accum, num_train_epochs=args.epochs,
                                 max_steps=args.max_steps, learning_rate=args.lr, bf16=args.precision == "bf16",
                                 fp16=args.precision == "fp16", gradient_checkpointing=True, logging_steps=10,
                                 save_strategy="epoch", report_to=[], seed=args.seed)
    trainer = Trainer(model=model, args=training, train_dataset=data,
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
    result = trainer.train()
    model.save_pretrained(os.path.join(args.output_dir, "adapter"))
    tokens = sum(len(ids) for ids in data["input_ids"]) * args.epochs
    return {"records": len(data), "train_loss": result.training_loss, "steps": result.global_step,
            "tokens": tokens, "adapter": os.path.join(args.output_dir, "adapter")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    device = rt.detect_device(import_torch=not args.smoke)
    rt.log(f"devices: {device['visible_devices'] or 'none visible'}; runtime: {device.get('device')}")
    work = smoke(args) if args.smoke else train(args, device)
    result = {"template": "lora_finetune", "mode": "smoke" if args.smoke else "full", "model": args.model,
              "method": args.method, "lora_rank": args.lora_rank, "device": device,
              "seconds": round(time.time() - started, 3), **work}
    rt.write_json(os.path.join(args.output_dir, "result.json"), result)
    rt.log(f"done in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
