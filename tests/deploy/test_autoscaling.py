"""Worker autoscaling: KEDA on the Celery lists (keda overlay) or CPU (hpa overlay), never both."""

from __future__ import annotations

from typing import Any

import pytest

from campaign.runtime import Runtime
from campaign.settings import Settings
from tests.deploy.manifests import OVERLAYS, Manifest, Rendering, redis_location, render

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate (a dev dependency) is not installed"
)

# ScaledObject fields of KEDA 2.x (keda.sh/v1alpha1); anything else is a typo KEDA would reject.
SCALED_OBJECT_SPEC = {
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
}
TRIGGER_FIELDS = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
REDIS_LIST_METADATA = {
    "address",
    "host",
    "port",
    "addressFromEnv",
    "hostFromEnv",
    "portFromEnv",
    "usernameFromEnv",
    "passwordFromEnv",
    "listName",
    "listLength",
    "activationListLength",
    "enableTLS",
    "unsafeSsl",
    "databaseIndex",
}


@pytest.fixture(scope="module")
def keda() -> Rendering:
    return render(OVERLAYS["keda"])


@pytest.fixture(scope="module")
def scaled_object(keda: Rendering) -> Manifest:
    (obj,) = keda.of_kind("ScaledObject")
    return obj


def _trigger(scaled_object: Manifest, name: str) -> dict[str, str]:
    (trigger,) = [t for t in scaled_object["spec"]["triggers"] if t["name"] == name]
    metadata: dict[str, str] = trigger["metadata"]
    return metadata


def _config(rendering: Rendering) -> dict[str, str]:
    data: dict[str, str] = rendering.get("ConfigMap", "campaign-config")["data"]
    return data


def test_keda_watches_the_list_celery_keeps_for_the_dial_queue(
    keda: Rendering, scaled_object: Manifest
) -> None:
    celery_queue = Settings(queue_prefix=_config(keda)["QUEUE_PREFIX"]).queue("dial")
    assert _trigger(scaled_object, "dial-backlog")["listName"] == celery_queue


def test_keda_watches_the_list_the_drain_threads_pop(
    keda: Rendering, scaled_object: Manifest
) -> None:
    runtime = Runtime(Settings(queue_prefix=_config(keda)["QUEUE_PREFIX"]))
    assert _trigger(scaled_object, "drain-backlog")["listName"] == runtime.drains_key


@pytest.mark.parametrize("trigger", ["dial-backlog", "drain-backlog"])
def test_keda_reads_the_redis_database_of_redis_url(
    keda: Rendering, scaled_object: Manifest, trigger: str
) -> None:
    host, port, database = redis_location(_config(keda)["REDIS_URL"])
    metadata = _trigger(scaled_object, trigger)
    assert metadata["address"] == f"{host}:{port}"
    assert metadata["databaseIndex"] == str(database)
    # KEDA's operator resolves the address from its own namespace: only a full name works.
    assert host.endswith(f".{scaled_object['metadata']['namespace']}.svc.cluster.local")


def test_scaled_object_has_the_shape_keda_accepts(scaled_object: Manifest) -> None:
    assert scaled_object["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled_object["spec"]
    assert set(spec) <= SCALED_OBJECT_SPEC
    for key in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount"):
        assert isinstance(spec[key], int), key
        assert spec[key] > 0, key
    assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    assert spec["minReplicaCount"] <= spec["fallback"]["replicas"] <= spec["maxReplicaCount"]
    assert spec["fallback"]["failureThreshold"] > 0
    assert spec["triggers"]
    for trigger in spec["triggers"]:
        assert set(trigger) <= TRIGGER_FIELDS
        assert trigger["type"] == "redis"
        metadata = trigger["metadata"]
        assert set(metadata) <= REDIS_LIST_METADATA
        assert all(isinstance(v, str) for v in metadata.values()), "KEDA metadata is strings"
        assert int(metadata["listLength"]) > 0
        assert "address" in metadata or {"host", "port"} <= set(metadata)


def test_scaled_object_behavior_is_a_valid_hpa_behavior(scaled_object: Manifest) -> None:
    # KEDA copies this block into the HPA it creates, so the HPA schema is the one that applies.
    behavior = scaled_object["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    hpa = _hpa_for("campaign-worker", behavior)
    kubernetes_validate.validate(hpa, kubernetes_validate.utils.latest_version(), strict=True)


def _hpa_for(target: str, behavior: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "maxReplicas": 2,
            "behavior": behavior,
        },
    }


def test_scaled_object_targets_the_worker_deployment(
    keda: Rendering, scaled_object: Manifest
) -> None:
    ref = scaled_object["spec"]["scaleTargetRef"]
    assert ref.get("kind", "Deployment") == "Deployment"
    worker = keda.get("Deployment", ref["name"])
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"][0] == "worker"


def test_hpa_scales_the_worker_on_cpu_against_its_request() -> None:
    rendering = render(OVERLAYS["hpa"])
    (hpa,) = rendering.of_kind("HorizontalPodAutoscaler")
    ref = hpa["spec"]["scaleTargetRef"]
    worker = rendering.get(ref["kind"], ref["name"])
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"][0] == "worker"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # Utilization is measured against the request, so the request must be set.
    assert worker["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]


def _autoscaled(rendering: Rendering) -> list[str]:
    autoscalers = rendering.of_kind("ScaledObject") + rendering.of_kind("HorizontalPodAutoscaler")
    return [o["spec"]["scaleTargetRef"]["name"] for o in autoscalers]


@pytest.mark.parametrize("name", sorted(OVERLAYS))
def test_no_overlay_puts_two_autoscalers_on_one_deployment(name: str) -> None:
    targets = _autoscaled(render(OVERLAYS[name]))
    assert len(targets) == len(set(targets))


def test_keda_and_hpa_overlays_are_alternatives_for_the_same_workers() -> None:
    # Both target campaign-worker: applying both would make two HPAs fight over its replicas.
    assert _autoscaled(render(OVERLAYS["keda"])) == _autoscaled(render(OVERLAYS["hpa"]))


def test_keda_authenticates_to_redis_with_the_engines_redis_password(
    keda: Rendering, scaled_object: Manifest
) -> None:
    (auth,) = keda.of_kind("TriggerAuthentication")
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "password"
    secret = keda.get("Secret", ref["name"])
    assert ref["key"] in secret["stringData"]
    assert ref["key"] == "REDIS_PASSWORD"
    for trigger in scaled_object["spec"]["triggers"]:
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
