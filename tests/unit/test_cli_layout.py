"""services/cli/: its module docstring lists every command, and a start (`benchmarks --help`)
loads none of the heavy libraries the commands import when they run."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import typer

import services.cli


def _commands(group: Any, prefix: str = "") -> list[str]:
    """The full names of `group`'s commands ("run", "suite put", ...); a group has `commands`."""
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


def test_the_module_docstring_lists_every_command_and_no_other() -> None:
    root = typer.main.get_command(services.cli.app)
    commands = _commands(root)
    doc = services.cli.__doc__ or ""
    missing = [name for name in commands if not re.search(rf"^\s+benchmarks {re.escape(name)}\b", doc, re.MULTILINE)]
    assert not missing, f"services/cli/__init__.py's docstring does not list: {missing}"
    listed = set(re.findall(r"^\s+benchmarks ([a-z]+)", doc, re.MULTILINE))
    assert listed <= set(root.commands), f"the docstring lists commands that do not exist: {sorted(listed - set(root.commands))}"


def test_help_loads_no_store_http_or_broker_library() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "import services.cli\n"
        "assert CliRunner().invoke(services.cli.app, ['--help']).exit_code == 0\n"
        "heavy = ('httpx', 'pymongo', 'faststream', 'aiokafka', 'uvicorn', 'fastapi', 'sqlite3', 'numpy', 'rouge_score')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert loaded.strip() == "[]", f"`benchmarks --help` loads {loaded.strip()}"
