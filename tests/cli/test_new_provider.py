"""``mediatask new-provider``: a new plugin folder, laid out from the reference plugin's template.

``plugins/echo`` is the template rendered for ``echo``; after changing the template, regenerate
it with ``python tests/cli/test_new_provider.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner
from PIL import Image

from mediatask.cli import cli
from mediatask.cli.new_provider import ProviderNames, provider_names, render_provider
from mediatask.model.errors import UsageError
from mediatask.testing import mediatask_command

ECHO = Path(__file__).resolve().parents[2] / "plugins" / "echo"
ECHO_NAMES = ProviderNames("echo", "Echo (reference plugin)")


def reference_files() -> dict[PurePosixPath, str]:
    """The reference plugin's source files: what git tracks (``build/``, caches and eggs left
    by pip or Python are no part of it)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "."],  # noqa: S607
        cwd=ECHO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = sorted(PurePosixPath(name) for name in listed.split("\0") if name)
    return {
        name: (ECHO / name).read_text(encoding="utf-8") for name in names if (ECHO / name).is_file()
    }


@pytest.mark.subprocess  # git ls-files
def test_the_reference_plugin_is_the_template_rendered_for_echo() -> None:
    assert render_provider(ECHO_NAMES) == reference_files(), "regenerate: see the docstring"


def test_a_name_is_spelled_for_each_place_it_goes() -> None:
    names = provider_names("acme-ai")

    assert (names.title, names.module, names.dist) == (
        "Acme Ai",
        "mediatask_acme_ai",
        "mediatask-acme-ai",
    )
    assert names.class_prefix == "AcmeAi"
    assert provider_names("acme", "Acme Corp").title == "Acme Corp"


@pytest.mark.parametrize("bad", ["Acme", "9lives", "acme ai", "", "acme.ai"])
def test_a_name_that_cannot_name_a_provider_is_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="cannot name a provider"):
        provider_names(bad)


def test_the_command_writes_a_plugin_and_refuses_a_folder_in_use(tmp_path: Path) -> None:
    target = tmp_path / "acme"
    made = CliRunner().invoke(cli, ["new-provider", "acme", str(target)])

    assert made.exit_code == 0, made.output
    assert f"mediatask install -e {target}" in made.stdout
    written = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert written == {
        "pyproject.toml",
        "mediatask_acme/__init__.py",
        "mediatask_acme/emulator.py",
        "mediatask_acme/py.typed",
        "tests/conftest.py",
        "tests/test_contract.py",
        "tests/test_emulator.py",
    }
    assert 'acme = "mediatask_acme"' in (target / "pyproject.toml").read_text()
    again = CliRunner().invoke(cli, ["new-provider", "acme", str(target)])
    assert again.exit_code == 1
    assert "already exists and is not an empty folder" in again.output
    assert len(again.output.strip().splitlines()) == 1


def test_a_bad_name_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    refused = CliRunner().invoke(cli, ["new-provider", "Acme", str(tmp_path / "x")])

    assert refused.exit_code == 1
    assert "'Acme' cannot name a provider" in refused.output
    assert not (tmp_path / "x").exists()


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_new_provider_installs_is_listed_runs_and_passes_the_contract_at_once(
    tmp_path: Path, mediatask_home: Path
) -> None:
    folder = tmp_path / "plugin"
    made = mediatask_command("new-provider", "acme-ai", str(folder), env={})
    assert made.returncode == 0, made.stderr
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(site), str(folder)], check=True, capture_output=True)
    env = {"PYTHONPATH": str(site), "MEDIATASK_HOME": str(mediatask_home)}
    Image.new("RGB", (8, 4), (1, 2, 3)).save(tmp_path / "photo.png")

    listed = mediatask_command("providers", env=env)
    ran = mediatask_command(
        "run", "acme-ai", "mirror", "--input", str(tmp_path / "photo.png"), "-o",
        str(tmp_path / "out"), "--sandbox", env=env,
    )  # fmt: skip
    contract = subprocess.run(  # as its author would run it: no trio_mode, its own rootdir
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(folder), str(folder / "tests")],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=300, check=False,
        cwd=folder,
    )  # fmt: skip

    assert "acme-ai  Acme Ai" in listed.stdout, listed.stderr
    assert ran.returncode == 0, ran.stderr
    assert contract.returncode == 0, contract.stdout[-2000:]
    assert " passed" in contract.stdout


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_new_provider_copied_out_installs_with_pip_and_runs_its_own_tests(
    tmp_path: Path, mediatask_home: Path
) -> None:
    """In a fresh environment, one pip install of the plugin with its ``test`` extra (and the
    core, from this checkout) is all its tests need."""
    folder = tmp_path / "acme"
    made = mediatask_command("new-provider", "acme", str(folder), env={})
    assert made.returncode == 0, made.stderr
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    core = Path(__file__).resolve().parents[2]
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(core), f"{folder}[test]"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    tested = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        capture_output=True, text=True, timeout=600, check=False, cwd=folder,
        env={**env, "MEDIATASK_HOME": str(mediatask_home)},
    )  # fmt: skip

    assert tested.returncode == 0, tested.stdout[-2000:] + tested.stderr[-2000:]
    assert " passed" in tested.stdout


if __name__ == "__main__":
    for relative, text in render_provider(ECHO_NAMES).items():
        ECHO.joinpath(*relative.parts).write_text(text, encoding="utf-8")
