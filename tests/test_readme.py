"""The README's example of the main job is what the command prints today (a stale example is a defect)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
NUMBER = re.compile(r"\d+\.\d+")


def _first_console_block() -> tuple[list[str], list[str]]:
    block = re.search(r"```console\n(.*?)```", README.read_text(encoding="utf-8"), re.S).group(1)
    command, *printed = block.rstrip("\n").split("\n")
    argv = shlex.split(command.removeprefix("$ "))
    assert argv[0].endswith("guide-match"), command
    return argv[1:], printed


def _same(line: str, shown: str) -> bool:
    """Equal text; numbers may differ in the last digits (int8 kernels vary a little between CPUs)."""
    if NUMBER.sub("#", line) != NUMBER.sub("#", shown):
        return False
    return all(abs(float(a) - float(b)) <= 0.01 for a, b in zip(NUMBER.findall(line), NUMBER.findall(shown)))


def test_the_readme_match_example_is_what_the_command_prints(cli_run):
    argv, shown = _first_console_block()
    code, out, _ = cli_run(*argv)
    assert code == 0
    printed = out.rstrip("\n").split("\n")
    assert len(printed) == len(shown), (printed, shown)
    for line, expected in zip(printed, shown):
        assert _same(line.rstrip(), expected.rstrip()), (line, expected)
