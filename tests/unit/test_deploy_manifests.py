"""deploy/k8s: every resource valid against the Kubernetes schemas (bundled by
kubernetes-validate, no network), and wired as the services need: probes on /health and
/ready on each service's own port, requests and limits, configuration from the ConfigMap and
secrets from the Secret, a PodDisruptionBudget per Deployment, an autoscaler for the ingress."""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.shared.settings import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
SERVICE_PORTS = {
    "ingress": "ORDERS_HTTP_PORT",
    "writer": "ORDERS_WRITER_HTTP_PORT",
    "dispatcher": "ORDERS_DISPATCHER_HTTP_PORT",
}


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return loaded


def resources() -> list[dict[str, Any]]:
    return [doc for name in kustomization()["resources"] for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources() if r["kind"] == kind}


def test_the_kustomization_lists_every_manifest_and_nothing_else() -> None:
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization()["resources"]) == sorted(files)


@pytest.mark.parametrize("resource", resources(), ids=lambda r: f"{r['kind']}/{r['metadata']['name']}")
def test_each_resource_is_valid_against_the_kubernetes_schemas(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_a_wrong_type_and_a_misspelt_field_are_caught() -> None:
    deployment = of_kind("Deployment")["orders-ingress"]
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    deployment = of_kind("Deployment")["orders-ingress"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_each_service_is_probed_on_its_own_port_and_configured_from_the_config_map_and_secret() -> None:
    config = of_kind("ConfigMap")["orders-config"]["data"]
    secret = of_kind("Secret")["orders-secrets"]
    deployments = of_kind("Deployment")
    assert set(deployments) == {f"orders-{s}" for s in SERVICE_PORTS}
    for service, port_variable in SERVICE_PORTS.items():
        [container] = deployments[f"orders-{service}"]["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["orders", "serve", service]
        assert [p["containerPort"] for p in container["ports"]] == [int(config[port_variable])]
        assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][bound].keys()
        assert container["envFrom"] == [
            {"configMapRef": {"name": "orders-config"}},
            {"secretRef": {"name": secret["metadata"]["name"]}},
        ]
    assert config["ORDERS_HTTP_HOST"] == "0.0.0.0"  # probes come from outside the pod
    assert "MONGODB_URL" in secret["stringData"]
    assert "MONGODB_URL" not in config


def test_every_orders_variable_of_the_config_map_is_a_setting() -> None:
    aliases = {str(field.validation_alias or name).upper() for name, field in Settings.model_fields.items()}
    config = of_kind("ConfigMap")["orders-config"]["data"]
    assert {k for k in config if k.startswith("ORDERS_") or k in {"KAFKA_BOOTSTRAP_SERVERS"}} <= aliases


def test_each_deployment_has_a_disruption_budget_and_the_ingress_an_autoscaler() -> None:
    budgets = of_kind("PodDisruptionBudget")
    for name, deployment in of_kind("Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert budgets[name]["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    [autoscaler] = of_kind("HorizontalPodAutoscaler").values()
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "orders-ingress",
    }
