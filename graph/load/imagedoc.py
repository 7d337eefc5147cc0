"""A node's `doc:`: what the pages `export meta` writes for its image say beyond what the stack gives."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from graph.errors import StackError
from graph.load.fields import Fields
from graph.load.paths import checked_file
from graph.model import checks
from graph.model.spec import Definition, ImageDoc

DOC_KEYS = ("description", "category", "environment", "usage", "license", "similar_packages", "dependency",
            "logo")
PROSE_KEYS = ("description", "environment", "usage", "license")
MAX_PROSE = 20_000  # characters of one prose field
MAX_LINE = 1000  # characters of one similar_packages or dependency item
MAX_LOGO_BYTES = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_doc(root: Path, folder: str, node: Fields) -> ImageDoc | None:
    """The node's `doc:` mapping checked (None without one); the logo relative to the repository root."""
    if not node.has("doc"):
        return None
    doc = node.section("doc", DOC_KEYS, "'doc'")
    prose = {key: doc.text(key, "", _prose_problem).strip() for key in PROSE_KEYS}
    return ImageDoc(**prose, category=doc.text("category", "", _category_problem),
                    similar_packages=doc.texts("similar_packages", _line_problem),
                    dependency=doc.texts("dependency", _line_problem),
                    logo=_logo(root, folder, doc) if doc.has("logo") else "", location=node.where("doc"))


def one_doc_per_image(definitions: Iterable[Definition]) -> None:
    """StackError at the second of two definitions of one image of one stack (in one stack file or in
    several with that stack name) whose `doc:` differ: an image has one page."""
    first: dict[tuple[str, str], Definition] = {}
    for definition in definitions:
        if definition.doc is None:
            continue
        other = first.setdefault((definition.stack, definition.image), definition)
        if other.doc is not None and other.doc != definition.doc:
            raise StackError(f"nodes '{other.name}' and '{definition.name}' both write a 'doc:' for image "
                             f"{definition.image!r} of stack {definition.stack!r}", definition.doc.location,
                             f"an image has one README: keep 'doc:' on node '{other.name}' only, at "
                             f"{other.doc.location}")


def _logo(root: Path, folder: str, doc: Fields) -> str:
    """The logo's path, a PNG file of at most MAX_LOGO_BYTES inside the repository."""
    logo = checked_file(root, folder, doc, "logo", "logo")
    try:
        size = (root / logo).stat().st_size
        with (root / logo).open("rb") as handle:
            signature = handle.read(len(PNG_SIGNATURE))
    except OSError as exc:
        raise doc.fail("logo", f"cannot read the logo: {exc.strerror or exc}") from None
    if signature != PNG_SIGNATURE:
        raise doc.fail("logo", f"logo {logo} is not a PNG file", "save the logo as PNG")
    if size > MAX_LOGO_BYTES:
        raise doc.fail("logo", f"logo {logo} is {size} bytes, more than {MAX_LOGO_BYTES}",
                       "use a smaller logo")
    return logo


def _prose_problem(value: str) -> str:
    """Markdown text of at most MAX_PROSE characters (the loader refuses control characters already)."""
    return f"the text is {len(value)} characters long (at most {MAX_PROSE})" if len(value) > MAX_PROSE else ""


def _line_problem(value: str) -> str:
    """One line of at most MAX_LINE characters: each item is one entry of a YAML list."""
    if "\n" in value:
        return f"the item {value.partition(chr(10))[0][:60]!r}… spans several lines"
    return f"the item is {len(value)} characters long (at most {MAX_LINE})" if len(value) > MAX_LINE else ""


def _category_problem(value: str) -> str:
    """A category is a lower-case name, as openeuler-docker-images' (ai, others, …)."""
    return "" if checks.NAME_RE.fullmatch(value) else \
        f"category {value!r} must be lower-case letters and digits (e.g. ai, others)"
