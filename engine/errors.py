"""The exception root of the engine package."""

from __future__ import annotations

from collections.abc import Sequence


class EngineError(Exception):
    """Root of every error the engine raises; the CLI turns it into a message and an exit code."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        self.message, self.hint = message, hint
        super().__init__(f"{message} ({hint})" if hint else message)


class BuildError(EngineError):
    """A buildx build failed: carries the node, the command, the exit code and the log tail."""

    def __init__(self, node: str, command: Sequence[str], exit_code: int | None, log_tail: str,
                 log_path: str = "", hint: str = "fix the Dockerfile step shown in the log tail") -> None:
        self.node, self.command, self.exit_code_of_build = node, list(command), exit_code
        self.log_tail, self.log_path = log_tail, log_path
        where = f"; full log: {log_path}" if log_path else ""
        super().__init__(f"node {node}: build failed with exit code {exit_code}{where}", hint)


class BuildStalled(BuildError):
    """buildx printed nothing for too long and was stopped; carries the last line it printed."""

    def __init__(self, node: str, command: Sequence[str], stall_timeout_s: float, last_line: str,
                 log_tail: str, log_path: str, silence: str = "no output") -> None:
        super().__init__(node, command, None, log_tail, log_path)
        self.last_line, self.stall_timeout_s = last_line, stall_timeout_s
        EngineError.__init__(
            self, f"node {node}: build stalled: {silence} for {stall_timeout_s:g} s after "
                  f"{last_line!r}, stopped; full log: {log_path}",
            "a registry or network transfer hung; raise --stall-timeout if a step is silent for longer")


class PushError(BuildError):
    """The built image stored by the engine could not be pushed (`docker push` of one of its tags)."""

    def __init__(self, node: str, command: Sequence[str], exit_code: int | None, log_tail: str,
                 log_path: str = "", problem: str = "") -> None:
        super().__init__(node, command, exit_code, log_tail, log_path)
        where = f"; full log: {log_path}" if log_path else ""
        problem = problem or f"docker push failed with exit code {exit_code}"
        EngineError.__init__(self, f"node {node}: {problem}{where}",
                             "check the registry login and the registry (see the log tail)")


class SmokeTestError(EngineError):
    """An image's smoke test failed on a platform."""

    def __init__(self, node: str, platform: str, command: Sequence[str], output: str) -> None:
        self.node, self.platform, self.command, self.output = node, platform, list(command), output
        super().__init__(f"node {node}: smoke test {list(command)} failed on {platform}",
                         "run the image and fix the test or the image")


class RegistryError(EngineError):
    """A registry request failed definitively, or kept failing after retries."""


class Interrupted(EngineError):
    """A Ctrl-C (exit 130) or SIGTERM (exit 143) that took effect once a step that must not stop midway
    was done."""

    def __init__(self, signal_name: str, step: str) -> None:
        super().__init__(f"stopped by {signal_name} once {step}")
        self.exit_code = signal_exit_code(signal_name)


def signal_exit_code(signal_name: str) -> int:
    """The exit code of a command a signal stopped: 143 after SIGTERM, else 130 (SIGINT)."""
    return 143 if signal_name == "SIGTERM" else 130


class EngineUnavailable(EngineError):
    """The Docker engine or buildx cannot be reached."""

    exit_code = 3
