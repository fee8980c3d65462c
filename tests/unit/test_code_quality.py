"""The code stays as clean as the README promises: ``ruff`` (lint and format) and ``mypy``
pass on the whole tree, so a clean-clone CI run catches what an editor did not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)


@pytest.mark.skipif(not (BIN / "ruff").exists(), reason="ruff is not installed (scripts/setup dev)")
def test_ruff_finds_nothing_to_say() -> None:
    lint = run(str(BIN / "ruff"), "check", "src", "tests", "bench")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    formatting = run(str(BIN / "ruff"), "format", "--check", "src", "tests", "bench")
    assert formatting.returncode == 0, formatting.stdout + formatting.stderr


@pytest.mark.skipif(not (BIN / "mypy").exists(), reason="mypy is not installed (scripts/setup dev)")
def test_mypy_finds_no_type_errors() -> None:
    checked = run(str(BIN / "mypy"), "src")
    assert checked.returncode == 0, checked.stdout + checked.stderr
