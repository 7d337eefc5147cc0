"""One push per build on the docker driver: buildx stores the image, `docker push` sends it once.

buildx 0.13 with the docker driver and the containerd image store pushes an image twice when asked to
(BuildKit's exporter, then "pushing ... with docker"; buildx 0.22 dropped the second). Storing with
`--output type=image` and pushing each tag with `docker push` sends it once, the same index by digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from engine.build.buildx_args import image_output, pushed_reference
from engine.build.request import BuildRequest

STORE_OUTPUT = "type=image"  # the engine's image store, named by the request's tags


def pushed_names(request: BuildRequest) -> tuple[str, ...]:
    """What buildx would push itself: the tags of a --push, or the name of an image output that pushes
    (a pool builder's platform image); () when it pushes nothing."""
    if request.load:
        return ()
    if request.output:
        reference = pushed_reference(request.output)
        return (reference,) if reference else ()
    return request.tags if request.push else ()


def stored_instead(request: BuildRequest) -> BuildRequest:
    """request storing its image in the engine under the names it would push, instead of pushing it."""
    if request.output:  # only an image output that pushes has a push to take over
        reference = pushed_reference(request.output)
        return replace(request, output=image_output(reference, push=False)) if reference else request
    return replace(request, output=STORE_OUTPUT, push=False)


def push_argv(docker: Sequence[str], tag: str) -> list[str]:
    """The `docker push` of one stored tag."""
    return [*docker, "push", tag]
