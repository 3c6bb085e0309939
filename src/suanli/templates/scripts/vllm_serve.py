"""Serve a language model with vLLM's OpenAI-compatible server (suanli template).

On NVIDIA this is upstream vLLM; on Huawei Ascend the same ``vllm serve`` command runs with the vllm-ascend
plug-in installed (it registers the NPU platform). The server listens on ``--port`` until the job's maximum
runtime ends or the job is cancelled.

``--smoke`` runs the same serving path in seconds without vLLM or PyTorch: it starts an OpenAI-style
``/v1/completions`` HTTP server on 127.0.0.1 backed by a tiny character model, sends it ``--smoke-requests``
requests, checks the answers, measures tokens/s and writes ``result.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import suanli_runtime as rt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="Qwen/Qwen2.5-7B-Instruct")
    p.add_argument("--tensor-parallel-size", type=int, default=1)
    p.add_argument("--max-model-len", type=int, default=4096)
    p.add_argument("--dtype", choices=("auto", "bfloat16", "float16"), default="auto")
    p.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    p.add_argument("--max-num-seqs", type=int, default=256)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--output-dir", default="output")
    p.add_argument("--smoke", action="store_true", help="a seconds-long run without vLLM (checks the setup)")
    p.add_argument("--smoke-requests", type=int, default=8)
    args = p.parse_args(argv)
    if args.tensor_parallel_size < 1 or not 0 < args.gpu_memory_utilization <= 1 or args.max_model_len < 16:
        p.error("--tensor-parallel-size >= 1, 0 < --gpu-memory-utilization <= 1, --max-model-len >= 16")
    return args


def serve(args: argparse.Namespace) -> int:  # pragma: no cover - needs vLLM and an accelerator
    exe = shutil.which("vllm")
    if exe is None:
        raise SystemExit("vllm is not installed: pip install vllm (CUDA) or vllm vllm-ascend (Ascend)")
    command = [exe, "serve", args.model, "--host", "0.0.0.0", "--port", str(args.port),
               "--tensor-parallel-size", str(args.tensor_parallel_size), "--max-model-len", str(args.max_model_len),
               "--dtype", args.dtype, "--gpu-memory-utilization", str(args.gpu_memory_utilization),
               "--max-num-seqs", str(args.max_num_seqs)]
    rt.log("exec " + " ".join(command))
    sys.stdout.flush()
    os.execv(exe, command)
    return 1


def smoke(args: argparse.Namespace) -> dict:
    model = rt.TinyLM()
    served = {"requests": 0, "tokens": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            if self.path != "/v1/completions":
                self.send_error(404)
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            n = int(body.get("max_tokens", 16))
            text = model.generate(str(body.get("prompt", "")), n)
            served["requests"] += 1
            served["tokens"] += n
            payload = json.dumps({"object": "text_completion", "model": args.model,
                                  "choices": [{"index": 0, "text": text, "finish_reason": "length"}],
                                  "usage": {"completion_tokens": n}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rt.log(f"smoke server on 127.0.0.1:{port} (a tiny model standing in for {args.model})")
    started = time.time()
    answers = []
    try:
        for i in range(args.smoke_requests):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", method="POST",
                                             data=json.dumps({"prompt": f"hello number {i}", "max_tokens": 16}).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
            answers.append(answer["choices"][0]["text"])
    finally:
        server.shutdown()
        server.server_close()
    seconds = max(time.time() - started, 1e-6)
    rt.log(f"served {served['requests']} requests, {served['tokens']} tokens, {served['tokens'] / seconds:.0f} tokens/s")
    return {"requests": served["requests"], "completion_tokens": served["tokens"],
            "tokens_per_s": served["tokens"] / seconds, "sample": answers[0] if answers else None}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = rt.detect_device(import_torch=False)
    rt.log(f"devices: {device['visible_devices'] or 'none visible'}; vllm installed: {rt.has_module('vllm')}, "
           f"vllm_ascend installed: {rt.has_module('vllm_ascend')}")
    if not args.smoke:
        return serve(args)
    started = time.time()
    work = smoke(args)
    result = {"template": "vllm_serve", "mode": "smoke", "model": args.model,
              "tensor_parallel_size": args.tensor_parallel_size, "device": device,
              "seconds": round(time.time() - started, 3), **work}
    rt.write_json(os.path.join(args.output_dir, "result.json"), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
