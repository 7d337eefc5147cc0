"""The sign, verify and build --sign commands refuse a missing key before doing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main as cli

ROOT = Path(__file__).parents[3]


@pytest.mark.parametrize("command", [["sign"], ["verify"], ["build", "--sign", "missing.key"]])
def test_a_missing_key_is_bad_input_without_a_traceback(command: list[str], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STACKBUILD_SIGN_KEY", raising=False)
    monkeypatch.delenv("STACKBUILD_VERIFY_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    code = cli.main([*command, "--root", str(ROOT), "--state-dir", str(tmp_path / "state"), "stacks/demo"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: --sign: missing.key is not a file" if "build" in command
                          else "error: --key is required")
    assert "cosign generate-key-pair" in err
    assert "Traceback" not in err
