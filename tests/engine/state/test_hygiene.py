"""hygiene: remotes made safe to publish, secret-looking build args kept out of logs."""

from __future__ import annotations

import pytest

from engine.state.hygiene import public_source, redact_text, redacted_args, secret_args


@pytest.mark.parametrize(("remote", "published"), [
    ("https://user:tok3n@github.com/org/repo.git", "https://github.com/org/repo.git"),
    ("https://ghp_abc@github.com/org/repo", "https://github.com/org/repo"),  # a bare token as user
    ("http://u:p@git.local:8080/r.git?private_token=x#frag", "http://git.local:8080/r.git"),
    ("ssh://git:hunter2@host:2222/org/r.git", "ssh://git@host:2222/org/r.git"),
    ("ssh://git@host/org/r.git", "ssh://git@host/org/r.git"),
    ("ssh://DEPLOY_TOKEN@host/org/r.git", "ssh://host/org/r.git"),
    ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
    ("git:pw@github.com:org/repo.git", "git@github.com:org/repo.git"),
    ("HTTPS://Host.Example/r", "https://host.example/r"),
])
def test_remote_loses_its_credentials(remote: str, published: str) -> None:
    assert public_source(remote) == published


@pytest.mark.parametrize("remote", [
    "/home/me/stacks", "./stacks", "../stacks", "~/stacks", "file:///srv/git/stacks.git", "C:\\repos\\x",
    "C:/repos/x", "", "   ", "stacks", "https://", "https://h/x\nSB", "ftp://h/x", "https://h:99999/x",
])
def test_a_local_path_or_odd_remote_publishes_nothing(remote: str) -> None:
    assert public_source(remote) == ""


def test_secret_looking_args_are_named_and_redacted() -> None:
    args = (("BASE", "debian"), ("GH_TOKEN", "t0k"), ("db_password", "pw"), ("Api_Key", "k"),
            ("MY_SECRET", "s"), ("KEYRING", "kr"))
    assert secret_args(args) == ("GH_TOKEN", "db_password", "Api_Key", "MY_SECRET", "KEYRING")
    assert redacted_args(args) == (("BASE", "debian"), ("GH_TOKEN", "***"), ("db_password", "***"),
                                   ("Api_Key", "***"), ("MY_SECRET", "***"), ("KEYRING", "***"))


def test_redact_text_replaces_every_value_longest_first() -> None:
    assert redact_text("a=abc b=abcdef c=abc", ("abc", "abcdef", "")) == "a=*** b=*** c=***"
    assert redact_text("nothing here", ()) == "nothing here"
