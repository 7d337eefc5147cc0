"""Finding the buildx plugin program as the docker CLI would: its folders, in its order, or none."""

from __future__ import annotations

import json
from pathlib import Path

from engine.build.plugin import default_builder_chosen, find_buildx, plugin_dirs
from tests.engine.build.setups import choose, plant


def test_the_configuration_folder_comes_before_the_system_folders(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "cfg")}
    folders = plugin_dirs(env)
    assert folders[0] == tmp_path / "cfg" / "cli-plugins"
    assert folders[1:] == [Path(f"/usr/{prefix}/docker/cli-plugins")
                           for prefix in ("local/lib", "local/libexec", "lib", "libexec")]
    assert find_buildx(["/usr/bin/docker"], env) in ("", *(str(f / "docker-buildx") for f in folders[1:]))
    planted = plant(tmp_path / "cfg" / "cli-plugins")
    assert find_buildx(["/usr/bin/docker"], env) == planted


def test_extra_folders_of_the_configuration_come_first(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"cliPluginsExtraDirs": [str(tmp_path / "extra")]}))
    plant(config / "cli-plugins")
    planted = plant(tmp_path / "extra")
    assert find_buildx(["docker"], {"DOCKER_CONFIG": str(config)}) == planted


def test_a_program_that_cannot_be_run_is_passed_over(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    (config / "config.json").parent.mkdir()
    (config / "config.json").write_text(json.dumps({"cliPluginsExtraDirs": [str(tmp_path / "extra")]}))
    plant(tmp_path / "extra", executable=False)
    planted = plant(config / "cli-plugins")
    assert find_buildx(["docker"], {"DOCKER_CONFIG": str(config)}) == planted


def test_a_malformed_configuration_is_read_as_none(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "config.json").write_text("{not json", encoding="utf-8")
    planted = plant(config / "cli-plugins")
    assert find_buildx(["docker"], {"DOCKER_CONFIG": str(config)}) == planted
    (config / "config.json").write_text(json.dumps({"cliPluginsExtraDirs": "not a list"}))
    assert find_buildx(["docker"], {"DOCKER_CONFIG": str(config)}) == planted


def test_a_wrapped_docker_command_or_cli_only_settings_keep_the_cli(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "cfg")}
    plant(tmp_path / "cfg" / "cli-plugins")
    assert find_buildx(["python", "fake_docker.py"], env) == ""
    assert find_buildx(["/usr/bin/podman"], env) == ""
    assert find_buildx(["docker", "--host", "tcp://x"], env) == ""
    assert find_buildx(["docker"], {**env, "DOCKER_CLI_PLUGIN_EXTRA_DIRS": "/x"}) == ""


def test_the_contexts_own_builder_is_chosen_unless_buildx_was_told_another(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "cfg")}
    assert default_builder_chosen(env)  # no buildx folder at all
    choose(tmp_path / "cfg" / "buildx", {"Key": "unix:///var/run/docker.sock", "Name": "", "Global": False})
    assert default_builder_chosen(env)
    assert not default_builder_chosen({**env, "BUILDX_BUILDER": "remote"})
    choose(tmp_path / "cfg" / "buildx", {"Key": "unix:///var/run/docker.sock", "Name": "ci", "Global": False})
    assert not default_builder_chosen(env)
    for unclear in ("{not json", {"Key": "k"}, ["Name", ""]):
        choose(tmp_path / "cfg" / "buildx", unclear)
        assert not default_builder_chosen(env), unclear  # buildx is asked then


def test_buildx_config_names_the_folder_of_the_current_file(tmp_path: Path) -> None:
    choose(tmp_path / "cfg" / "buildx", {"Name": "ci"})
    choose(tmp_path / "elsewhere", {"Name": ""})
    assert default_builder_chosen({"DOCKER_CONFIG": str(tmp_path / "cfg"),
                                   "BUILDX_CONFIG": str(tmp_path / "elsewhere")})
