"""deploy/k8s: every resource valid for Kubernetes (offline, against the schemas the
kubernetes-validate package ships), wired together (selectors, names, the ConfigMap and Secret),
probing the endpoints the service serves, with settings the service reads."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.artefacts import K8S, assert_a_command, k8s_documents, k8s_resource, settings_env_names
from ticketing.config import Settings
from ticketing.main import create_app

# The oldest Kubernetes still supported upstream when this was written, and the newest the
# package knows: the manifests use nothing either refuses.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())

RESOURCES = [(name, doc) for name, docs in k8s_documents().items() for doc in docs]
WORKLOADS = [doc for _, doc in RESOURCES if doc["kind"] in ("Deployment", "Job")]


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod = _pod(doc)
    return [*pod.get("initContainers", []), *pod["containers"]]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("file", "doc"), RESOURCES, ids=[f"{n}:{d['kind']}" for n, d in RESOURCES])
def test_every_resource_is_valid_for_kubernetes(file: str, doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)  # raises on any error


def test_the_validation_refuses_a_misspelt_field() -> None:
    """The check above bites: a probe's name misspelt (strict: unknown fields are errors)."""
    api = copy.deepcopy(k8s_resource("Deployment", "ticketing-api"))
    container = _pod(api)["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, VERSIONS[0], strict=True)


def test_the_kustomization_lists_files_that_exist() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    assert "secret.example.yaml" not in kustomization["resources"]  # no example secret is ever applied


def test_every_environment_variable_is_one_the_service_reads() -> None:
    """A setting renamed in config.py would otherwise be dropped silently by every deployment."""
    known = settings_env_names()
    config = k8s_resource("ConfigMap", "ticketing-config")["data"]
    secret = k8s_resource("Secret", "ticketing-secrets")["stringData"]
    named = [(f"ConfigMap key {key}", key) for key in config] + [(f"Secret key {key}", key) for key in secret]
    for doc in WORKLOADS:
        for container in _containers(doc):
            named += [(f"{doc['metadata']['name']} env {e['name']}", e["name"]) for e in container.get("env", [])]
    unknown = [where for where, name in named if name not in known]
    assert not unknown, f"not read by config.py: {unknown}"


def test_the_config_and_secret_make_a_production_configuration() -> None:
    """What a pod's environment gives the service starts it in production mode (config.py's
    checks pass: secrets, both URLs), on every address, with the jobs left to the worker."""
    env = {
        **k8s_resource("ConfigMap", "ticketing-config")["data"],
        **k8s_resource("Secret", "ticketing-secrets")["stringData"],
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in settings_env_names():
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, str(value))
        settings = Settings()
    assert settings.env == "production"
    assert settings.host == "0.0.0.0"  # noqa: S104 - a pod is reached on its own address
    assert settings.run_jobs_in_server is False
    assert settings.database_url and settings.redis_url and settings.metrics_token


def test_every_workload_takes_its_settings_from_the_config_map_and_secret() -> None:
    for doc in WORKLOADS:
        for container in _containers(doc):
            sources = {
                next(iter(k for k in source if k.endswith("Ref"))): next(iter(source.values()))["name"]
                for source in container["envFrom"]
            }
            assert sources == {"configMapRef": "ticketing-config", "secretRef": "ticketing-secrets"}, doc["metadata"]


def test_every_container_runs_a_ticketing_command_as_a_user() -> None:
    commands = {}
    for doc in WORKLOADS:
        pod = _pod(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        for container in _containers(doc):
            assert "command" not in container  # the image's entrypoint is `ticketing`
            assert_a_command(container["args"])
            commands[doc["metadata"]["name"]] = container["args"][0]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert any(mount["mountPath"] == "/tmp" for mount in container["volumeMounts"])  # noqa: S108
    assert commands == {
        "ticketing-api": "serve",
        "ticketing-worker": "worker",
        "ticketing-migrate": "migrate",
        "ticketing-operator": "admin",
    }


def test_the_probes_ask_the_endpoints_the_service_has(tmp_path: Path) -> None:
    """Routed on /healthz (asks no dependency: a Redis blip must not empty the Service, issue 23
    fault 6); a new pod is started once /readyz says PostgreSQL and Redis answer it."""
    served = {route.path for route in create_app(Settings(env="local", data_dir=tmp_path)).routes}
    api = _pod(k8s_resource("Deployment", "ticketing-api"))["containers"][0]
    paths = {probe: api[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert paths == {"startupProbe": "/readyz", "readinessProbe": "/healthz", "livenessProbe": "/healthz"}
    assert set(paths.values()) <= served
    port = api["ports"][0]
    assert {api[probe]["httpGet"]["port"] for probe in paths} == {port["name"]}
    config = k8s_resource("ConfigMap", "ticketing-config")["data"]
    assert port["containerPort"] == int(config["TICKETING_PORT"])


def test_the_api_is_reached_balanced_kept_and_scaled() -> None:
    api = k8s_resource("Deployment", "ticketing-api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert api["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = k8s_resource("Service", "ticketing-api")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    budget = k8s_resource("PodDisruptionBudget", "ticketing-api")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    scaler = k8s_resource("HorizontalPodAutoscaler", "ticketing-api")
    assert scaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ticketing-api"}
    assert [m["resource"]["name"] for m in scaler["spec"]["metrics"]] == ["cpu"]
    assert scaler["spec"]["minReplicas"] >= budget["spec"]["maxUnavailable"] + 1
    # The HPA measures CPU against the request; granian runs one process per worker setting.
    container = _pod(api)["containers"][0]
    workers = int(k8s_resource("ConfigMap", "ticketing-config")["data"]["TICKETING_WORKERS"])
    assert float(container["resources"]["requests"]["cpu"]) == workers
