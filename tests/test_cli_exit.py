"""The command line's way out: the objects it made are frozen, so the interpreter's shutdown
does not walk them (most of a cold ``ask``'s exit went into that walk)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import azsdk_rag.cli as cli


@pytest.mark.parametrize("argv", [["--version"], ["no-such-command"]])
def test_every_exit_of_the_command_line_freezes_what_it_made(
        argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    frozen: list[bool] = []
    monkeypatch.setattr(cli.gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(sys, "argv", ["azsdk-rag", *argv])
    with pytest.raises(SystemExit):
        cli.main()
    assert frozen == [True]


def test_a_frozen_exit_still_flushes_output_and_keeps_the_exit_code() -> None:
    code = ("import sys; from azsdk_rag.cli import main; sys.argv = ['azsdk-rag', '--version'];"
            " main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith("azsdk-rag, version")
