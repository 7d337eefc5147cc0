"""Llama 2 from MODEL_PATH: one answer for --prompt, otherwise a small JSON API over HTTP.

POST /generate {"prompt": "...", "max_new_tokens": 256} -> {"text": "..."}
GET /health -> {"status": "ok", "model": MODEL_PATH, "device": "..."}
A chat model's tokenizer template (Llama-2-*-chat-hf) wraps the prompt; a base model gets it as is.
"""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


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
    tokenizer = AutoTokenizer.from_pretrained(path)
    dtype = torch.float32 if device == "cpu" else torch.float16
    model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype, low_cpu_mem_usage=True)
    return tokenizer, model.to(device).eval()


def generate(tokenizer, model, device: str, prompt: str, max_new_tokens: int) -> str:
    if tokenizer.chat_template:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                            add_generation_prompt=True, return_tensors="pt")
    else:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
    ids = ids.to(device)
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


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
                self.reply(404, {"error": "GET /health or POST /generate"})

        def do_POST(self) -> None:
            if self.path != "/generate":
                self.reply(404, {"error": "GET /health or POST /generate"})
                return
            try:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                prompt = str(request["prompt"])
                max_new_tokens = int(request.get("max_new_tokens", 256))
            except (ValueError, KeyError, TypeError) as exc:
                self.reply(400, {"error": f"bad request: {exc}"})
                return
            self.reply(200, {"text": generate(tokenizer, model, device, prompt, max_new_tokens)})

    print(f"serving {os.environ['MODEL_PATH']} on {device} at http://{host}:{port}", flush=True)
    HTTPServer((host, port), Handler).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", help="answer this once and exit instead of serving")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args()
    device = pick_device()
    tokenizer, model = load(os.environ["MODEL_PATH"], device)
    if args.prompt is not None:
        print(generate(tokenizer, model, device, args.prompt, args.max_new_tokens))
        return
    serve(tokenizer, model, device, os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8000")))


if __name__ == "__main__":
    sys.exit(main())
