"""A tiny character-level bigram language model on numpy: trains on a built-in text, then generates."""

import argparse

import numpy as np

CORPUS = (
    "stackbuild builds layered container images for ai platforms. "
    "an sdk base carries the accelerator runtime, a framework sits on the sdk, "
    "and a language model application sits on the framework. "
)


def train(text: str) -> tuple[list[str], np.ndarray]:
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    counts = np.ones((len(vocab), len(vocab)))
    for a, b in zip(text, text[1:]):
        counts[index[a], index[b]] += 1
    return vocab, counts / counts.sum(axis=1, keepdims=True)


def generate(vocab: list[str], probs: np.ndarray, prompt: str, tokens: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    index = {ch: i for i, ch in enumerate(vocab)}
    out = [ch for ch in prompt.lower() if ch in index] or [vocab[0]]
    for _ in range(tokens):
        out.append(vocab[rng.choice(len(vocab), p=probs[index[out[-1]]])])
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompt", default="stack")
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    vocab, probs = train(CORPUS)
    print(generate(vocab, probs, args.prompt, args.tokens, args.seed))


if __name__ == "__main__":
    main()
