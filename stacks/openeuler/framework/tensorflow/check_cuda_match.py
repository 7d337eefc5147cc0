"""Build-time check: the installed TensorFlow was built for the CUDA major version of this image.

TensorFlow's GPU kernels load the CUDA libraries of the major version they were built against; a
CUDA 11 build in a CUDA 12 image imports fine and silently runs on the CPU. Reading both versions
needs no GPU, so the build fails here instead.
"""

import re
import subprocess

import tensorflow as tf


def main() -> None:
    built = str(tf.sysconfig.get_build_info().get("cuda_version", ""))
    nvcc = subprocess.run(["nvcc", "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"release (\d+)\.(\d+)", nvcc)
    image = f"{found.group(1)}.{found.group(2)}" if found else "unknown"
    print(f"tensorflow {tf.__version__}: built for CUDA {built or 'none'}, image has CUDA {image}")
    if not built:
        raise SystemExit("this TensorFlow wheel is not a CUDA build")
    if not found or built.split(".")[0] != found.group(1):
        raise SystemExit(f"TensorFlow {tf.__version__} needs CUDA {built}, not {image}")


if __name__ == "__main__":
    main()
