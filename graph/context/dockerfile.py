"""The images a Dockerfile names besides its `parent` context and its own stages (FROM, COPY --from,
RUN --mount from=): what `--pull` would fetch from a registry. Read leniently: a name that holds a
variable (`FROM ${BASE}`) counts, since it may be any image."""

from __future__ import annotations

import re

PARENT = "parent"  # the named context a child is built on (engine.build.buildx_args.PARENT_CONTEXT)
NO_IMAGE = "scratch"
_DIRECTIVE = re.compile(r"^#\s*([a-z]+)\s*=\s*(\S+)\s*$", re.IGNORECASE)  # only above the first instruction
_FROM_FLAG = re.compile(r"^--from=(\S+)$", re.IGNORECASE)
_MOUNT_FROM = re.compile(r"(?:^|,)from=([^,\s]+)", re.IGNORECASE)


def other_images(text: str) -> tuple[str, ...]:
    """The images text names besides `parent`, its stages and `scratch`, in order, each once."""
    stages: set[str] = set()  # named so far: a stage counts only after its FROM
    named: list[str] = []
    for words in _instructions(text):
        keyword, arguments = words[0].upper(), words[1:]
        stage = ""
        if keyword == "FROM":
            image, stage = _from(arguments)
            found = [image]
        elif keyword in ("COPY", "ADD"):
            found = [match[1] for word in arguments if (match := _FROM_FLAG.match(word))]
        elif keyword == "RUN":
            found = [source for word in arguments if word.lower().startswith("--mount=")
                     for source in _MOUNT_FROM.findall(word.split("=", 1)[1])]
        else:
            continue
        named += [name for name in found if not _inside(name, stages)]
        if stage:
            stages.add(stage)
    return tuple(dict.fromkeys(named))


def _inside(name: str, stages: set[str]) -> bool:
    """Whether name is no registry image: the parent context, scratch, a stage by name or number."""
    return name.lower() in {PARENT, NO_IMAGE, *stages} or name.isdigit()


def _from(arguments: list[str]) -> tuple[str, str]:
    """(image, stage name) of a FROM's arguments (flags such as --platform skipped)."""
    words = [word for word in arguments if not word.startswith("--")]
    image = words[0] if words else ""
    stage = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else ""
    return image, stage


def _instructions(text: str) -> list[list[str]]:
    """Each instruction's words, continuation lines joined and comment lines dropped."""
    escape, header = "\\", True
    instructions: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        directive = _DIRECTIVE.match(stripped) if header else None
        header = bool(directive)
        if directive and directive[1].lower() == "escape" and directive[2] in ("\\", "`"):
            escape = directive[2]
        if stripped.startswith("#") or (not stripped and current):
            continue
        continued = stripped.endswith(escape)
        current += (stripped[:-1] if continued else stripped).split()
        if not continued and current:
            instructions.append(current)
            current = []
    if current:
        instructions.append(current)
    return instructions
