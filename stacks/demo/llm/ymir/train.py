"""A tiny ymir-style task on numpy: fits a line, writes monitor.txt and result.yaml like an executor."""

import argparse
import pathlib

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="training")
    parser.add_argument("--out", default="/out")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    rng = np.random.default_rng(0)
    x = rng.normal(size=64)
    y = 3 * x + 1 + rng.normal(scale=0.1, size=64)
    slope, intercept = np.polyfit(x, y, 1)
    (out / "monitor.txt").write_text("task_id\t1.0\t1.0\t2\n")
    (out / "result.yaml").write_text(f"task: {args.task}\nslope: {slope:.3f}\nintercept: {intercept:.3f}\n")
    print(f"{args.task}: slope={slope:.3f} intercept={intercept:.3f}")


if __name__ == "__main__":
    main()
