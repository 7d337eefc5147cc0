"""check_reproducible under --no-secrets: it rebuilds and compares the images a withheld run published."""

from __future__ import annotations

from pathlib import Path

from engine.run import api, reproduce
from engine.run.settings import BuildSettings
from graph.model.secrets import SecretPolicy
from tests.engine.engine_fakes import STACK, FakeBuilder, FakeRegistry, write_stack

WITHHELD = SecretPolicy(withhold=True)


def test_a_withheld_check_compares_with_what_a_withheld_run_published(tmp_path: Path) -> None:
    # base declares a secret: a --no-secrets run pushes it under the withheld fingerprint's content tag,
    # and `build --no-secrets --check-reproducible base` must rebuild and compare that image (the one a
    # run with the secrets published is not what a build without them makes)
    root = tmp_path / "repo"
    stack = write_stack(root) / "stack.yaml"
    stack.write_text(stack.read_text(encoding="utf-8").replace(
        'test: "true"}', 'test: "true", secrets: [{id: tok, env: TOK}]}'), encoding="utf-8")
    registry = FakeRegistry()
    options = api.Options(root=root, targets=STACK, state_dir=tmp_path / "state")
    report = api.build(options, FakeBuilder(registry), BuildSettings(secrets=WITHHELD), registry)
    assert report.status == "succeeded"
    builder = FakeBuilder(registry)
    [result] = reproduce.check_reproducible(options, builder, ("base",), registry,  # type: ignore[arg-type]
                                            secrets=WITHHELD)
    assert result.published_ref.endswith(f":sb-{report.nodes['base'].fingerprint}")
    assert builder.requests["base"].secrets == ()
