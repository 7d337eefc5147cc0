"""A tiny character-level n-gram language model on numpy: trains on a built-in text, then generates."""

import argparse
import os

import numpy as np

CORPUS = (
    "stackbuild builds layered container images for ai platforms. "
    "an sdk base carries the accelerator runtime, a framework sits on the sdk, "
    "and a language model application sits on the framework. "
)


def train(text: str, order: int) -> tuple[list[str], dict[str, np.ndarray]]:
    """Next-character probabilities for every context of order - 1 characters."""
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    counts: dict[str, np.ndarray] = {}
    for start in range(len(text) - order + 1):
        context, nxt = text[start:start + order - 1], text[start + order - 1]
        counts.setdefault(context, np.ones(len(vocab)))[index[nxt]] += 1
    return vocab, {ctx: row / row.sum() for ctx, row in counts.items()}


def generate(vocab: list[str], model: dict[str, np.ndarray], order: int, prompt: str,
             tokens: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    out = [ch for ch in prompt.lower() if ch in vocab] or [vocab[0]]
    uniform = np.full(len(vocab), 1 / len(vocab))
    for _ in range(tokens):
        context = "".join(out[len(out) - order + 1:]) if order > 1 else ""
        out.append(vocab[rng.choice(len(vocab), p=model.get(context, uniform))])
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompt", default="stack")
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--order", type=int, default=int(os.environ.get("CHAT_NGRAM", "2")))
    args = parser.parse_args()
    vocab, model = train(CORPUS, args.order)
    print(generate(vocab, model, args.order, args.prompt, args.tokens, args.seed))


if __name__ == "__main__":
    main()
