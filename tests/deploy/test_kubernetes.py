"""deploy/k8s: every rendered object against the Kubernetes schema, plus the engine's own rules."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from campaign.errors import InvalidInput
from campaign.settings import Settings, load_settings
from tests.deploy.manifests import (
    BASE,
    CONTRACT_ENV,
    K8S,
    LONGEST_TASK_S,
    OPTIONAL_ENV,
    OVERLAYS,
    SECRET_ENV,
    Manifest,
    Rendering,
    engine_pod_specs,
    load_docs,
    load_yaml,
    pod_specs,
    render,
    settings_env,
    tool,
)

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate (a dev dependency) is not installed"
)

# The oldest Kubernetes minor still commonly run, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication"}  # checked in test_autoscaling.py
KUSTOMIZATIONS = {"base": BASE, **OVERLAYS}


def _rendered(name: str) -> Rendering:
    return render(KUSTOMIZATIONS[name])


def _container(rendering: Rendering, deployment: str) -> Manifest:
    spec = rendering.get("Deployment", deployment)["spec"]["template"]["spec"]
    container: Manifest = spec["containers"][0]
    return container


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_every_object_matches_the_kubernetes_schema(name: str, version: str) -> None:
    for obj in _rendered(name).objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_kubectl_kustomize_renders_what_the_tests_check(name: str) -> None:
    kubectl = tool("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the tests' own renderer stands in for it")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUSTOMIZATIONS[name])],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    def key(obj: Manifest) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    theirs = [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]
    assert sorted(theirs, key=key) == sorted(_rendered(name).objects, key=key)


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_every_pod_runs_unprivileged_on_a_read_only_root(name: str) -> None:
    rendering = _rendered(name)
    for owner, spec in pod_specs(rendering.objects):
        where = owner["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] != 0, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        assert {"name": "tmp", "emptyDir": {}} in spec["volumes"], where
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"] == {"drop": ["ALL"]}, where
            mount = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108 - a private emptyDir
            assert mount in container["volumeMounts"], where
            assert container["resources"]["requests"]["cpu"], where
            assert container["resources"]["limits"]["memory"], where


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_every_process_runs_the_one_image_with_the_shared_settings(name: str) -> None:
    rendering = _rendered(name)
    base_kustomization = load_yaml(BASE / "kustomization.yaml")
    (image,) = base_kustomization["images"]
    expected = f"{image['newName']}:{image['newTag']}"
    for _, spec in engine_pod_specs(rendering.objects):
        for container in spec["containers"]:
            assert container["image"] == expected
            assert container["envFrom"] == [
                {"configMapRef": {"name": "campaign-config"}},
                {"secretRef": {"name": "campaign-secrets"}},
            ]


def test_api_probes_liveness_on_healthz_and_readiness_on_readyz() -> None:
    api = _container(_rendered("base"), "campaign-api")
    port = api["args"][api["args"].index("--port") + 1]
    assert {"name": "http", "containerPort": int(port)} in api["ports"]
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("process", ["worker", "dispatcher"])
def test_background_processes_are_probed_by_their_redis_heartbeat(process: str) -> None:
    container = _container(_rendered("base"), f"campaign-{process}")
    assert container["args"][0] == process
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["exec"]["command"] == ["campaign", "health", process]
        # The probe starts a Python process; give it time on a busy node.
        assert container[probe]["timeoutSeconds"] >= 5


def test_worker_grace_period_outlasts_the_longest_task() -> None:
    spec = _rendered("base").get("Deployment", "campaign-worker")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] > LONGEST_TASK_S


def test_worker_replicas_are_left_to_the_autoscaler() -> None:
    worker = _rendered("base").get("Deployment", "campaign-worker")
    assert "replicas" not in worker["spec"]


def test_dispatcher_runs_more_than_one_replica_since_it_needs_no_leader() -> None:
    assert _rendered("base").get("Deployment", "campaign-dispatcher")["spec"]["replicas"] >= 2


def test_config_and_secret_carry_the_operator_contract() -> None:
    rendering = _rendered("base")
    config = set(rendering.get("ConfigMap", "campaign-config")["data"])
    secret = set(rendering.get("Secret", "campaign-secrets")["stringData"])
    assert not config & secret
    assert CONTRACT_ENV - OPTIONAL_ENV <= config | secret <= CONTRACT_ENV
    assert not config & SECRET_ENV, "secrets belong in the Secret"


# What an operator puts in place of the Secret's placeholders.
REAL_SECRETS = {
    "DATABASE_URL": "postgresql://campaign:a-real-pg-password@postgres:5432/campaign",
    "REDIS_PASSWORD": "a-real-redis-password-of-some-length",
    "SAVG_CLIENT_SECRET": "issued-by-savg-0123456789",
    "NOTIFY_SECRET": "k" * 43,
    "API_KEYS": f"{'o' * 43}:operator",
}


def _settings_from(env: dict[str, str]) -> Settings:
    return load_settings(**{key.lower(): value for key, value in env.items()})


@pytest.mark.parametrize("name", ["base", "hpa", "keda"])
def test_production_refuses_the_secret_placeholders_naming_each(name: str) -> None:
    env = settings_env(_rendered(name))
    assert env["ENVIRONMENT"] == "production"
    with pytest.raises(InvalidInput) as caught:
        _settings_from(env)
    for variable in REAL_SECRETS:
        assert f"{variable}:" in str(caught.value), variable


@pytest.mark.parametrize("name", ["base", "hpa", "keda"])
def test_kubernetes_settings_pass_production_once_the_placeholders_are_replaced(
    name: str,
) -> None:
    settings = _settings_from({**settings_env(_rendered(name)), **REAL_SECRETS})
    assert settings.production
    assert settings.redis_url == (
        "redis://:a-real-redis-password-of-some-length@redis.campaign.svc.cluster.local:6379/0"
    )


def test_the_simulator_overlay_runs_in_development_since_production_refuses_the_simulator() -> None:
    settings = _settings_from(settings_env(_rendered("simulator")))
    assert not settings.production


def test_migration_job_runs_db_upgrade_once_and_stops() -> None:
    (job,) = _rendered("base").of_kind("Job")
    spec = job["spec"]["template"]["spec"]
    assert spec["containers"][0]["args"] == ["db", "upgrade"]
    assert spec["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] <= 5
    assert job["spec"]["activeDeadlineSeconds"] > 0


@pytest.mark.parametrize(("name", "service"), [("base", "api"), ("simulator", "simulator")])
def test_service_selects_its_pods_and_names_a_served_port(name: str, service: str) -> None:
    rendering = _rendered(name)
    svc = rendering.get("Service", f"campaign-{service}")
    pods = rendering.get("Deployment", f"campaign-{service}")["spec"]["template"]
    assert svc["spec"]["selector"].items() <= pods["metadata"]["labels"].items()
    served = {port["name"] for port in pods["spec"]["containers"][0]["ports"]}
    assert {port["targetPort"] for port in svc["spec"]["ports"]} <= served


def test_simulator_overlay_points_the_engine_at_the_in_cluster_simulator() -> None:
    rendering = _rendered("simulator")
    config = rendering.get("ConfigMap", "campaign-config")["data"]
    simulator = rendering.get("Service", "campaign-simulator")["spec"]["ports"][0]["port"]
    api = rendering.get("Service", "campaign-api")["spec"]["ports"][0]["port"]
    assert config["SAVG_BASE_URL"] == f"http://campaign-simulator:{simulator}"
    assert config["NOTIFY_BASE_URL"] == f"http://campaign-api:{api}"
    base_config = _rendered("base").get("ConfigMap", "campaign-config")["data"]
    assert base_config["SAVG_BASE_URL"].startswith("https://"), "the base dials a real gateway"


@pytest.mark.parametrize("deployment", ["campaign-api", "campaign-worker", "campaign-dispatcher"])
def test_prometheus_annotations_name_the_port_serving_metrics(deployment: str) -> None:
    rendering = _rendered("base")
    template = rendering.get("Deployment", deployment)["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    ports = {p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
    assert int(annotations["prometheus.io/port"]) in ports
    metrics_port = rendering.get("ConfigMap", "campaign-config")["data"]["METRICS_PORT"]
    assert annotations["prometheus.io/port"] == metrics_port, "never the api's own port"


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_every_object_lands_in_the_campaign_namespace(name: str) -> None:
    namespace = load_yaml(BASE / "kustomization.yaml")["namespace"]
    for obj in _rendered(name).objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == namespace
        else:
            assert obj["metadata"].get("namespace") == namespace, where


def test_every_manifest_file_is_used_by_a_kustomization() -> None:
    used: set[Path] = set()
    for directory in KUSTOMIZATIONS.values():
        used |= render(directory).sources
    manifests = {p.resolve() for p in K8S.rglob("*.yaml")}
    assert manifests <= used, sorted(str(p) for p in manifests - used)
    for path in manifests:
        assert load_docs(path), f"{path} is empty"


def _policy(rendering: Rendering, name: str) -> Manifest:
    spec: Manifest = rendering.get("NetworkPolicy", name)["spec"]
    return spec


def test_ingress_to_every_engine_pod_is_denied_unless_a_policy_admits_it() -> None:
    rendering = _rendered("base")
    deny = _policy(rendering, "campaign-default-deny-ingress")
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    for owner, _ in pod_specs(rendering.objects):
        labels = owner["spec"]["template"]["metadata"]["labels"]
        assert deny["podSelector"]["matchLabels"].items() <= labels.items(), owner["metadata"]


def test_the_api_port_is_open_to_the_ingress_controller_and_metrics_to_monitoring_only() -> None:
    rendering = _rendered("base")
    api_http = _policy(rendering, "campaign-api-http")
    (rule,) = api_http["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    sources = [next(iter(source)) for source in rule["from"]]
    assert sources == ["namespaceSelector", "podSelector"]
    metrics = _policy(rendering, "campaign-metrics")
    (rule,) = metrics["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 9100}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    config = rendering.get("ConfigMap", "campaign-config")["data"]
    assert config["METRICS_PORT"] == "9100"


def test_the_ingress_exposes_only_notify_over_tls_on_the_notify_host() -> None:
    rendering = _rendered("base")
    (ingress,) = rendering.of_kind("Ingress")
    config = rendering.get("ConfigMap", "campaign-config")["data"]
    host = urlsplit(config["NOTIFY_BASE_URL"]).hostname
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == host
    assert [p["path"] for p in rule["http"]["paths"]] == ["/notify"]
    (path,) = rule["http"]["paths"]
    assert path["pathType"] == "Prefix"
    service = rendering.get("Service", "campaign-api")
    assert path["backend"]["service"]["name"] == service["metadata"]["name"]
    assert path["backend"]["service"]["port"]["name"] in {
        p["name"] for p in service["spec"]["ports"]
    }
    assert any(host in tls["hosts"] for tls in ingress["spec"]["tls"])
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/enable-access-log"] == "false"


def test_the_simulator_overlay_admits_dial_outs_to_the_simulator() -> None:
    rendering = _rendered("simulator")
    policy = _policy(rendering, "campaign-simulator-dialout")
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8090}]
    pods = rendering.get("Deployment", "campaign-simulator")["spec"]["template"]["metadata"]
    assert policy["podSelector"]["matchLabels"].items() <= pods["labels"].items()
