"""The command group imports a command's module only when that command runs."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click

from janitor.cli.group import COMMAND_MODULES, cli


def test_every_command_module_registers_exactly_the_commands_mapped_to_it() -> None:
    for module in set(COMMAND_MODULES.values()):
        importlib.import_module(module)
    assert set(cli.commands) == set(COMMAND_MODULES)
    for name, command in cli.commands.items():
        callback = command.callback
        assert callback is not None
        assert callback.__module__ == COMMAND_MODULES[name], name


def test_help_lists_every_command() -> None:
    context = click.Context(cli)
    assert cli.list_commands(context) == sorted(COMMAND_MODULES)
    assert "serve" in cli.get_help(context)


def test_running_run_imports_neither_the_scheduler_nor_the_html_renderer() -> None:
    probe = (
        "import sys\n"
        "from janitor.cli.main import main\n"
        "try:\n"
        "    main(['run', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('apscheduler', 'janitor.cli.render.html_report',"
        " 'janitor.cli.serve', 'janitor.cli.run') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "['janitor.cli.run']"
