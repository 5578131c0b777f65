"""The README's examples run and print what the README says (a README example that fails, or
prints something else than its output block, is a bug)."""

from __future__ import annotations

import doctest
import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
#: every Python block with the output block that follows it (```text)
EXAMPLES = re.findall(r"```python\n(.*?)```\n(?:\n*```text\n(.*?)```)?", README.read_text(), re.S)
#: how printed output is compared: runs of white space are one space, ``...`` stands for anything
#: (a temporary path, say), as in a doctest
_CHECK = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def test_readme_starts_with_two_commands():
    text = README.read_text()
    first = re.search(r"```bash\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert len(first) == 2 and "pytest" in first[1]
    assert "neurotwin run sample_data/ derivatives/ participant" in first[0]
    assert first[0].endswith("neurotwin run sample_data/ derivatives/ group")


def test_every_python_block_says_what_it_prints():
    assert len(EXAMPLES) >= 7
    missing = [code.splitlines()[0] for code, out in EXAMPLES if not out.strip()]
    assert not missing, f"Python blocks without a ```text output block after them: {missing}"


def test_the_output_check_can_fail():
    """The comparison is not vacuous: a changed number or a missing line is a difference."""
    checker = doctest.OutputChecker()
    assert checker.check_output("9.51\n0.031\n", "9.51\n0.031\n", _CHECK)
    assert checker.check_output("...x.edf: damaged\n", "/tmp/a/x.edf: damaged\n", _CHECK)
    assert not checker.check_output("9.51\n0.031\n", "9.52\n0.031\n", _CHECK)
    assert not checker.check_output("9.51\n0.031\n", "9.51\n", _CHECK)


@pytest.mark.parametrize("code, expected", EXAMPLES, ids=[f"block{i}" for i in range(len(EXAMPLES))])
def test_readme_block_prints_what_the_readme_says(code, expected, capsys):
    cwd = os.getcwd()
    os.chdir(README.parent)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    got = capsys.readouterr().out
    checker = doctest.OutputChecker()
    if not checker.check_output(expected, got, _CHECK):
        example = doctest.Example(code, expected)
        diff = checker.output_difference(example, got, _CHECK)
        pytest.fail(f"README block printed something else than its output block:\n{diff}")
