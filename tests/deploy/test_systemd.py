"""deploy/systemd: the units systemd itself accepts (``systemd-analyze verify``, where the
machine has it), running commands the CLI has, with settings the service reads."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.artefacts import SYSTEMD, assert_a_command, env_file, settings_env_names, split
from ticketing.config import PROJECT_ROOT

INSTALL_ROOT = "/opt/ticketing"  # where the units expect the checkout and its .venv
ENV_FILE = "/etc/ticketing/ticketing.env"
UNITS = sorted(path.name for path in SYSTEMD.iterdir() if path.suffix in (".service", ".target"))


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((SYSTEMD / name).read_text())
    return parser


def _services() -> list[str]:
    return [name for name in UNITS if name.endswith(".service")]


def test_the_units_are_there() -> None:
    assert UNITS == [
        "ticketing-api@.service",
        "ticketing-migrate.service",
        "ticketing-worker.service",
        "ticketing.target",
    ]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """Installed as they would be (the API as two instances of its template), with the paths
    pointed at this checkout, whose .venv has the `ticketing` the units start: verify prints a
    line for an unknown key, a bad value or a command that is not there."""
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace(INSTALL_ROOT, str(PROJECT_ROOT))
        (tmp_path / name).write_text(text.replace(ENV_FILE, str(tmp_path / "ticketing.env")))
    shutil.copy(SYSTEMD / "ticketing.env.example", tmp_path / "ticketing.env")
    units = [name.replace("@.", "@8001.") for name in UNITS] + ["ticketing-api@8002.service"]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{unit}" for unit in units)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result


def test_every_service_runs_a_ticketing_command() -> None:
    commands = {}
    for name in _services():
        service = _unit(name)["Service"]
        argv = split(service["ExecStart"])
        assert argv[0] == f"{INSTALL_ROOT}/.venv/bin/ticketing"
        assert_a_command(argv[1:])
        commands[name] = argv[1]
        assert service["User"] == "ticketing" and service["EnvironmentFile"] == ENV_FILE
        assert service["WorkingDirectory"] == INSTALL_ROOT
    assert commands == {
        "ticketing-api@.service": "serve",
        "ticketing-migrate.service": "migrate",
        "ticketing-worker.service": "worker",
    }


def test_the_api_instance_is_its_port_and_everything_waits_for_the_migration() -> None:
    api = _unit("ticketing-api@.service")
    assert api["Service"]["Environment"] == "TICKETING_PORT=%i"
    assert api["Service"]["KillSignal"] == "SIGINT"  # granian's graceful shutdown
    for name in ("ticketing-api@.service", "ticketing-worker.service"):
        unit = _unit(name)["Unit"]
        assert "ticketing-migrate.service" in unit["After"].split()
        assert "ticketing-migrate.service" in unit["Requires"].split()
    assert _unit("ticketing-migrate.service")["Service"]["Type"] == "oneshot"


def test_the_environment_file_sets_only_settings_the_service_reads() -> None:
    names = set(env_file(SYSTEMD / "ticketing.env.example"))
    names |= {
        line.split("=", 1)[0]
        for name in _services()
        for line in [_unit(name)["Service"].get("Environment", "")]
        if line
    }
    assert names <= settings_env_names(), names - settings_env_names()
    assert env_file(SYSTEMD / "ticketing.env.example")["TICKETING_RUN_JOBS_IN_SERVER"] == "false"
