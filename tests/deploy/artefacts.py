"""What the deployment tests read: the files under deploy/, and the names of the settings the
service reads (so that a setting renamed in config.py fails these tests instead of being ignored
silently by every deployment)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices

from ticketing.cli import build_parser
from ticketing.config import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
CONTAINERFILE = DEPLOY / "Containerfile"


def settings_env_names() -> frozenset[str]:
    """Every environment variable ``Settings`` reads: the prefixed field names and the aliases
    (``DATABASE_URL``, ``REDIS_URL``)."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return frozenset(names)


def k8s_documents() -> dict[str, list[dict[str, Any]]]:
    """The Kubernetes resources of every manifest, by file name (kustomization.yaml aside)."""
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


def k8s_resource(kind: str, name: str) -> dict[str, Any]:
    for documents in k8s_documents().values():
        for doc in documents:
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise LookupError(f"no {kind} {name} under deploy/k8s")


def env_file(path: Path) -> dict[str, str]:
    """A systemd EnvironmentFile / ``--env-file``: NAME=value lines, # comments."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def assert_a_command(argv: list[str]) -> None:
    """``argv`` (after ``ticketing``) is a command line the CLI accepts."""
    assert argv, "no command"
    build_parser().parse_args(argv)  # SystemExit(2) on an unknown command or option


def split(command: str) -> list[str]:
    return shlex.split(command)
