"""The README and docs/ say what the code does: every setting documented, every command
named exists, the README short, every relative link resolving. A doc that drifts from the
code fails here instead of misleading an operator."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from pydantic.fields import FieldInfo

from polygon_pipeline.cli import cli
from polygon_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
README_MAX_LINES = 300

# POLYGON_ variables that docs/configuration.md documents but Settings does not read.
NOT_SETTINGS = {
    "POLYGON_DEVNET_CONTROL_URL": "published by the devnet for the demo, tests and benchmarks",
    "POLYGON_DEVNET_ANVIL_URL": "published by the devnet for its handle",
    "POLYGON_ANVIL_BIN": "read by the devnet to find anvil",
    "POLYGON_TEST_PG_URL": "read by the tests' scratch databases",
    "POLYGON_UPDATE_SCREENSHOTS": "read by the browser test",
}

_VARIABLE = re.compile(r"\bPOLYGON_[A-Z0-9_]*[A-Z0-9]")
_COMMAND = re.compile(r"polygon-pipeline((?: [a-z][a-z-]*)+)")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _env_name(name: str, field: FieldInfo) -> str:
    """The variable pydantic-settings reads a field from: its alias, else prefix + name."""
    alias = field.validation_alias
    return alias if isinstance(alias, str) else Settings.model_config["env_prefix"] + name.upper()


def _assert_command_exists(words: list[str]) -> None:
    """`polygon-pipeline WORDS...` runs a command: a group's next word must be one of its
    commands; after a command the words are its arguments (`leaders import leaders.csv`)."""
    command: click.Command = cli
    for word in words:
        if not isinstance(command, click.Group):
            break
        assert word in command.commands, f"`{command.name} {word}`: no such command"
        command = command.commands[word]


def test_every_setting_is_documented_and_every_documented_variable_is_read():
    settings = {_env_name(name, field) for name, field in Settings.model_fields.items()}
    documented = set(_VARIABLE.findall(CONFIGURATION.read_text()))
    assert settings - documented == set(), "settings missing from docs/configuration.md"
    assert documented - settings - NOT_SETTINGS.keys() == set(), "documented, but not read"
    assert NOT_SETTINGS.keys() <= documented, "allowed above, but not documented"


def test_every_command_the_readme_names_exists_and_the_table_lists_them_all():
    text = README.read_text()
    for words in _COMMAND.findall(text):
        _assert_command_exists(words.split())
    table = {
        words.split()[0]
        for line in text.splitlines()
        if line.startswith("| `polygon-pipeline")
        for words in _COMMAND.findall(line)
    }
    assert set(cli.commands) - table == set(), "commands missing from the README's table"


def test_the_readme_stays_short():
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


@pytest.mark.parametrize(
    "page",
    [README, *sorted((ROOT / "docs").glob("*.md"))],
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_every_relative_link_resolves(page: Path):
    for target in _LINK.findall(page.read_text()):
        path = target.split("#", 1)[0]
        if not path or "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / path).exists(), f"{page.name} links to {target}: not found"
