"""Edits ChatGLM2-6B's modeling_chatglm.py so it runs on torch_npu (7.0.RC1 era).

Three changes, each checked: the TorchScript fuser switches at import time are skipped (torch_npu
does not provide them); the attention mask is made boolean before `.all()`; inference_mode becomes
no_grad.
"""

import pathlib
import sys

EDITS = (
    ("if sys.platform != 'darwin':\n    torch._C._jit_set_profiling_mode(False)",
     "if False:  # NPU: no TorchScript fuser switches\n    torch._C._jit_set_profiling_mode(False)"),
    ("not attention_mask.all()", "not attention_mask.bool().all()"),
    ("@torch.inference_mode()", "@torch.no_grad()"),
)


def main(path: pathlib.Path) -> int:
    text = path.read_text(encoding="utf-8")
    for old, new in EDITS:
        if old not in text:
            print(f"{path}: {old.splitlines()[0]!r} not found; this revision needs other edits",
                  file=sys.stderr)
            return 1
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    print(f"{path}: {len(EDITS)} NPU edits applied")
    return 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
