"""Qwen-7B(-Chat) on PyTorch from MODEL_PATH: one answer for --prompt, otherwise a JSON API over HTTP.

POST /chat {"prompt": "...", "history": [[question, answer], ...]} -> {"response": "...", "history": [...]}
GET /health -> {"status": "ok", "model": MODEL_PATH, "device": "..."}
The model's own code (modeling_qwen.py, shipped with the weights) runs with trust_remote_code.
"""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation import GenerationConfig


def pick_device() -> str:
    """DEVICE if set, else an Ascend NPU (torch_npu), else a CUDA GPU, else the CPU."""
    if os.environ.get("DEVICE"):
        return os.environ["DEVICE"]
    try:
        import torch_npu  # noqa: F401  (registers the "npu" device with torch)

        if torch.npu.is_available():
            return "npu:0"
    except (ImportError, OSError, RuntimeError):
        pass  # not an Ascend image, or no driver mounted
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def load(path: str, device: str):
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=True)
    dtype = torch.float32 if device == "cpu" else torch.float16
    model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True, torch_dtype=dtype,
                                                 low_cpu_mem_usage=True)
    model.generation_config = GenerationConfig.from_pretrained(path, trust_remote_code=True)
    return tokenizer, model.to(device).eval()


def chat(tokenizer, model, prompt: str, history: list) -> tuple:
    with torch.no_grad():
        response, history = model.chat(tokenizer, prompt, history=history)
    return response, [list(turn) for turn in history]


def serve(tokenizer, model, device: str, host: str, port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        def reply(self, status: int, body: dict) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self.reply(200, {"status": "ok", "model": os.environ["MODEL_PATH"], "device": device})
            else:
                self.reply(404, {"error": "GET /health or POST /chat"})

        def do_POST(self) -> None:
            if self.path != "/chat":
                self.reply(404, {"error": "GET /health or POST /chat"})
                return
            try:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                prompt = str(request["prompt"])
                history = [tuple(turn) for turn in request.get("history", [])]
            except (ValueError, KeyError, TypeError) as exc:
                self.reply(400, {"error": f"bad request: {exc}"})
                return
            response, history = chat(tokenizer, model, prompt, history)
            self.reply(200, {"response": response, "history": history})

    print(f"serving {os.environ['MODEL_PATH']} on {device} at http://{host}:{port}", flush=True)
    HTTPServer((host, port), Handler).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", help="answer this once and exit instead of serving")
    args = parser.parse_args()
    device = pick_device()
    tokenizer, model = load(os.environ["MODEL_PATH"], device)
    if args.prompt is not None:
        print(chat(tokenizer, model, args.prompt, [])[0])
        return
    serve(tokenizer, model, device, os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8000")))


if __name__ == "__main__":
    sys.exit(main())
