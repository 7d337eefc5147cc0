"""engine.registry.cosign: argument lists, the environment cosign sees, and how its failures read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.registry.cosign import Cosign, CosignError, last_error, sign_argv, verify_argv

DIGEST = "sha256:" + "ab" * 32
LOCAL = f"localhost:5000/demo/debian@{DIGEST}"
REMOTE = f"registry.example/demo/debian@{DIGEST}"


def test_sign_is_offline_and_by_digest() -> None:
    argv = sign_argv(LOCAL, Path("/keys/cosign.key"))
    assert argv[:5] == ["sign", "--key", "/keys/cosign.key", "--tlog-upload=false", "--yes"]
    assert argv[-1] == LOCAL
    assert "--allow-http-registry" in argv and "--allow-insecure-registry" in argv


def test_verify_ignores_the_transparency_log_and_asks_https_registries_over_tls() -> None:
    argv = verify_argv(REMOTE, Path("/keys/cosign.pub"))
    assert argv[:5] == ["verify", "--key", "/keys/cosign.pub", "--insecure-ignore-tlog=true", "--output"]
    assert "--allow-http-registry" not in argv
    assert argv[-1] == REMOTE


def fake_cosign(tmp_path: Path, code: int, stderr: str) -> Path:
    """A cosign stand-in that records its argv and environment, prints stderr and exits with code."""
    script = tmp_path / "cosign"
    record = tmp_path / "record.json"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'env': dict(os.environ)}}, open({str(record)!r}, 'w'))\n"
        f"sys.stderr.write({stderr!r})\nsys.exit({code})\n", encoding="utf-8")
    script.chmod(0o755)
    return script


def recorded(tmp_path: Path) -> dict[str, object]:
    return dict(json.loads((tmp_path / "record.json").read_text(encoding="utf-8")))


def test_sign_passes_the_password_and_nothing_else_secret(tmp_path: Path) -> None:
    program = fake_cosign(tmp_path, 0, "")
    environ = {"PATH": "/usr/bin:/bin", "COSIGN_PASSWORD": "pw", "GITHUB_TOKEN": "leak-me-not"}
    Cosign(str(program), environ).sign(LOCAL, Path("/k/cosign.key"))
    seen = recorded(tmp_path)
    env = seen["env"]
    assert isinstance(env, dict)
    assert env["COSIGN_PASSWORD"] == "pw"
    assert "GITHUB_TOKEN" not in env
    assert seen["argv"] == sign_argv(LOCAL, Path("/k/cosign.key"))


def test_sign_stores_the_signature_in_the_image_s_own_repository_whatever_cosign_repository_says(
        tmp_path: Path) -> None:
    # prune looks for an image's signatures in its own repository, and takes a signature tag whose
    # subject is not in its repository for an orphan's (README, prune): stackbuild sign keeps to that
    program = fake_cosign(tmp_path, 0, "")
    Cosign(str(program), {"PATH": "/usr/bin:/bin", "COSIGN_REPOSITORY": "localhost:5000/signatures"}).sign(
        LOCAL, Path("/k/cosign.key"))
    env = recorded(tmp_path)["env"]
    assert isinstance(env, dict) and "COSIGN_REPOSITORY" not in env


def test_a_refused_signature_says_why_and_carries_the_command(tmp_path: Path) -> None:
    stderr = "Generating...\nError: signing: decrypt: wrong password\nmain.go:74: x\n"
    program = fake_cosign(tmp_path, 1, stderr)
    with pytest.raises(CosignError) as caught:
        Cosign(str(program), {"PATH": "/usr/bin:/bin"}).sign(LOCAL, Path("/k/cosign.key"))
    assert "cosign could not sign" in str(caught.value)
    assert "signing: decrypt: wrong password" in str(caught.value)
    assert caught.value.returncode == 1
    assert caught.value.command[-1] == LOCAL


def test_verify_reports_a_missing_signature_as_an_outcome(tmp_path: Path) -> None:
    program = fake_cosign(tmp_path, 10, "Error: no signatures found\n")
    outcome = Cosign(str(program), {"PATH": "/usr/bin:/bin"}).verify(LOCAL, Path("/k/cosign.pub"))
    assert not outcome.ok
    assert outcome.detail == "no signatures found"


def test_a_tag_is_never_signed_or_verified(tmp_path: Path) -> None:
    program = fake_cosign(tmp_path, 0, "")
    with pytest.raises(CosignError, match="not pinned by digest"):
        Cosign(str(program)).sign("localhost:5000/demo/debian:12", Path("/k/cosign.key"))
    assert not (tmp_path / "record.json").exists()


def test_a_missing_cosign_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(CosignError) as caught:
        Cosign(str(tmp_path / "nowhere" / "cosign")).verify(LOCAL, Path("/k/cosign.pub"))
    assert "make setup" in caught.value.hint


@pytest.mark.parametrize(("stderr", "line"), [
    ("Error: no matching signatures:\nmain.go:69: error during command execution", "no matching signatures:"),
    ("just one line\n", "just one line"),
    ("", ""),
])
def test_last_error(stderr: str, line: str) -> None:
    assert last_error(stderr) == line
