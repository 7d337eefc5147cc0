"""Edits FastChat's installed ChatGLM generation code so it runs on torch_npu.

torch.inference_mode() is not supported by the torch_npu build of the 7.0.RC1 era; FastChat's
ChatGLM stream generator uses it. We swap it for torch.no_grad(), which has the same effect here.
"""

import importlib.util
import pathlib
import sys

OLD = "@torch.inference_mode()"
NEW = "@torch.no_grad()"


def main() -> int:
    spec = importlib.util.find_spec("fastchat.model.model_chatglm")
    if spec is None or spec.origin is None:
        print("fastchat.model.model_chatglm not found", file=sys.stderr)
        return 1
    path = pathlib.Path(spec.origin)
    text = path.read_text(encoding="utf-8")
    if OLD not in text and NEW in text:
        print(f"{path}: already edited")
        return 0
    if OLD not in text:
        print(f"{path}: {OLD} not found; this FastChat release needs another edit", file=sys.stderr)
        return 1
    path.write_text(text.replace(OLD, NEW), encoding="utf-8")
    print(f"{path}: {OLD} -> {NEW}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
