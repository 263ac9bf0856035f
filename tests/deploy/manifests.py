"""Readers for the deployment files, shared by the tests in tests/deploy.

The Kustomize renderer implements only what deploy/k8s uses (resources, namespace, images,
patches that merge maps) and refuses anything else, so the tests run on machines without kubectl;
where kubectl exists, a test proves both render the same objects.
"""

from __future__ import annotations

import configparser
import copy
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from campaign.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
OVERLAYS = {name: K8S / "overlays" / name for name in ("keda", "hpa", "simulator")}
COMPOSE_FILE = ROOT / "docker-compose.yml"
PGBOUNCER_INI = DEPLOY / "pgbouncer" / "pgbouncer.ini"
# The Deployment, Service and ConfigMap of PgBouncer in the Kubernetes base share this name.
PGBOUNCER = "campaign-pgbouncer"
KUBERNETES_SCRAPE = DEPLOY / "prometheus" / "scrape-kubernetes.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboard.json"
README = DEPLOY / "README.md"

# The operator contract's environment (README, docs/operator.md) plus the deployment-only names.
CONTRACT_ENV = frozenset(
    {
        "DATABASE_URL",
        "REDIS_URL",
        "SAVG_BASE_URL",
        "SAVG_CLIENT_ID",
        "SAVG_CLIENT_SECRET",
        "SAVG_JWT_ALGORITHM",
        "NOTIFY_BASE_URL",
        "NOTIFY_SECRET",
        "SAVG_WEBHOOK_SECRET",
        "API_KEYS",
        "QUEUE_PREFIX",
        "METRICS_PORT",
        "ENVIRONMENT",
        "REDIS_PASSWORD",
        "NOTIFY_SECRET_PREVIOUS",
        "EVENTS_URL",
        "EVENTS_SECRET",
    }
)
OPTIONAL_ENV = frozenset(
    {"SAVG_WEBHOOK_SECRET", "NOTIFY_SECRET_PREVIOUS", "EVENTS_URL", "EVENTS_SECRET"}
)
SECRET_ENV = frozenset(
    {
        "DATABASE_URL",
        "REDIS_PASSWORD",
        "SAVG_CLIENT_SECRET",
        "NOTIFY_SECRET",
        "NOTIFY_SECRET_PREVIOUS",
        "SAVG_WEBHOOK_SECRET",
        "API_KEYS",
    }
)

# A dial task is at most one connect plus one read against the gateway, plus a pacing wait and a
# few short database writes, for which 20 s is a generous bound.
_DEFAULTS = Settings.model_fields
LONGEST_TASK_S = (
    float(_DEFAULTS["savg_connect_timeout_s"].default)
    + float(_DEFAULTS["savg_read_timeout_s"].default)
    + 20.0
)

Manifest = dict[str, Any]


def load_yaml(path: Path) -> Any:
    """One YAML document."""
    return yaml.safe_load(path.read_text())


def load_docs(path: Path) -> list[Manifest]:
    """Every non-empty document of a multi-document YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def tool(name: str) -> str | None:
    """An executable on PATH or beside this interpreter (tools pip-installed into the venv)."""
    found = shutil.which(name)
    if found is None:
        candidate = Path(sys.executable).parent / name
        found = str(candidate) if candidate.exists() else None
    return found


@dataclass
class Rendering:
    """The objects one kustomization produces, and every file that went into them."""

    objects: list[Manifest]
    sources: set[Path] = field(default_factory=set)

    def get(self, kind: str, name: str) -> Manifest:
        """The one object of this kind and name."""
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
        return found[0]

    def of_kind(self, kind: str) -> list[Manifest]:
        """All objects of a kind, in file order."""
        return [o for o in self.objects if o["kind"] == kind]


def render(directory: Path) -> Rendering:
    """What `kubectl kustomize directory` would print, for the features deploy/k8s uses."""
    path = directory / "kustomization.yaml"
    spec = load_yaml(path)
    unsupported = set(spec) - {"apiVersion", "kind", "namespace", "resources", "patches", "images"}
    assert not unsupported, f"{path}: the test renderer does not implement {sorted(unsupported)}"
    rendering = Rendering(objects=[], sources={path})
    for entry in spec.get("resources", []):
        resource = (directory / entry).resolve()
        if resource.is_dir():
            inner = render(resource)
            rendering.objects += inner.objects
            rendering.sources |= inner.sources
        else:
            rendering.objects += load_docs(resource)
            rendering.sources.add(resource)
    for patch in spec.get("patches", []):
        patch_path = (directory / patch["path"]).resolve()
        rendering.sources.add(patch_path)
        for doc in load_docs(patch_path):
            target = rendering.get(doc["kind"], doc["metadata"]["name"])
            _merge(target, doc, where=str(patch_path))
    for image in spec.get("images", []):
        for container in _containers(rendering.objects):
            if container["image"].split(":")[0] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    if "namespace" in spec:
        for obj in rendering.objects:
            if obj["kind"] != "Namespace":
                obj["metadata"]["namespace"] = spec["namespace"]
    return rendering


def _merge(target: dict[str, Any], patch: Mapping[str, Any], where: str) -> None:
    """A strategic merge patch restricted to maps, where it equals a recursive update."""
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value, where)
        else:
            assert not isinstance(value, list), f"{where}: list patches are not implemented"
            target[key] = copy.deepcopy(value)


def pod_specs(objects: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(owner, pod spec) for every workload that runs pods."""
    for obj in objects:
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield obj, obj["spec"]["template"]["spec"]


def engine_pod_specs(objects: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(owner, pod spec) of the engine's own processes: every workload but PgBouncer."""
    for owner, spec in pod_specs(objects):
        if owner["metadata"]["name"] != PGBOUNCER:
            yield owner, spec


def _containers(objects: list[Manifest]) -> Iterator[Manifest]:
    for _, spec in pod_specs(objects):
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def settings_env(rendering: Rendering) -> dict[str, str]:
    """The environment every pod gets from the ConfigMap and the Secret."""
    data = dict(rendering.get("ConfigMap", "campaign-config")["data"])
    data.update(rendering.get("Secret", "campaign-secrets")["stringData"])
    return data


def redis_location(redis_url: str) -> tuple[str, int, int]:
    """(host, port, database index) of a redis:// URL, with Redis's defaults."""
    parts = urlsplit(redis_url)
    assert parts.hostname, redis_url
    database = int(parts.path.lstrip("/") or 0)
    return parts.hostname, parts.port or 6379, database


_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str] | None = None) -> str:
    """Compose's `${VAR}` / `${VAR:-default}` substitution against `env` (default: empty)."""
    env = env or {}
    return _VARIABLE.sub(lambda m: env.get(m["name"]) or (m["default"] or ""), value)


def compose() -> dict[str, Any]:
    """docker-compose.yml with YAML anchors and merge keys resolved."""
    loaded: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return loaded


def seconds(duration: str) -> float:
    """A compose duration (`1m30s`, `60s`, `500ms`) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"not a compose duration: {duration}"
    return sum(float(number) * units[unit] for number, unit in parts)


def pgbouncer_ini(text: str) -> configparser.ConfigParser:
    """A pgbouncer.ini (`;` comments, `key = value`; values hold `=`, so only the first splits)."""
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.read_string(text)
    return parser


def libpq_params(value: str) -> dict[str, str]:
    """`host=h port=5432 dbname=d` (a [databases] entry) as a dict."""
    return dict(pair.split("=", 1) for pair in value.split())


@dataclass(frozen=True)
class Endpoint:
    """Where a postgresql:// URL connects, and as whom."""

    user: str
    password: str
    host: str
    port: int
    database: str

    @property
    def address(self) -> tuple[str, int, str]:
        """(host, port, database): where it connects, whoever logs in."""
        return self.host, self.port, self.database


def endpoint(url: str) -> Endpoint:
    """The parts of a postgresql:// URL that decide where it connects."""
    parts = urlsplit(url)
    assert parts.username, url
    assert parts.hostname, url
    return Endpoint(
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        host=parts.hostname,
        port=parts.port or 5432,
        database=parts.path.lstrip("/"),
    )
