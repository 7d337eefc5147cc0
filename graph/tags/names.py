"""The one table of known names: which words are SDKs, AI frameworks and accelerators.

Conventions use it to tell what a field of a tag is by its name, not only by its position: in
`chatglm6b-cann7.0.RC1-pytorch2.1.0-oe2203sp2` (oEEP-0014's own example) `cann` is the SDK and `pytorch`
the framework although the SDK comes first. A name missing here is read by its position.
"""

from __future__ import annotations

SDKS = ("cann", "cuda", "rocm", "cpu", "oneapi", "dtk", "musa", "corex", "neuware", "xpu")
FRAMEWORKS = ("pytorch", "torch", "tensorflow", "tf", "mindspore", "paddle", "paddlepaddle", "jax", "mxnet",
              "onnxruntime", "deeprec")
ACCELERATORS = ("cpu", "gpu", "mkl-cpu")  # PAI's spellings (mkl-cpu: a CPU build with Intel MKL)
KNOWN: dict[str, tuple[str, ...]] = {"sdk": SDKS, "framework": FRAMEWORKS}
ROLE_ATTRS = ("sdk", "framework")  # attrs whose value must not be a known name of the other role


def role_of(name: str) -> str:
    """'sdk' or 'framework' for a known name ('' for an unknown one, or one known as both)."""
    roles = [role for role, names in KNOWN.items() if name in names]
    return roles[0] if len(roles) == 1 else ""


def misread(attrs: dict[str, str]) -> tuple[str, str] | None:
    """(attr, value) of the first role attr holding a known name of the other role, or None."""
    for attr in ROLE_ATTRS:
        role = role_of(attrs.get(attr, ""))
        if role and role != attr:
            return attr, attrs[attr]
    return None
