"""Prometheus scrape configs and the Grafana dashboard against the engine's metric names."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from campaign import metrics
from tests.deploy.manifests import (
    BASE,
    DASHBOARD,
    DEPLOY,
    KUBERNETES_SCRAPE,
    ROOT,
    compose,
    engine_pod_specs,
    load_yaml,
    render,
    tool,
)

# Every metric the engine exports (campaign/metrics.py), with its labels.
ENGINE_METRICS: dict[str, set[str]] = {
    "campaign_dialouts_total": {"result"},
    "campaign_notifications_total": {"status"},
    "campaign_outcomes_total": {"outcome"},
    "campaign_queue_depth": {"queue"},
    "campaign_live_calls": {"campaign"},
    "campaign_limiter_waits_total": {"reason"},
    "campaign_gateway_breaker_open": {"gateway"},
    "campaign_dialout_latency_seconds": set(),
    "campaign_dispatch_tick_seconds": set(),
    "campaign_events_total": {"result"},
    "campaign_events_pending": set(),
}
HISTOGRAMS = {"campaign_dialout_latency_seconds", "campaign_dispatch_tick_seconds"}
SERIES = {
    f"{name}{suffix}": labels | ({"le"} if suffix == "_bucket" else set())
    for name, labels in ENGINE_METRICS.items()
    for suffix in (("_bucket", "_sum", "_count") if name in HISTOGRAMS else ("",))
}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "bool",
}  # fmt: skip
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"label_values\((\w+)(?:\{[^}]*\})?,\s*(\w+)\)")


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _targets() -> Iterator[tuple[str, dict[str, Any]]]:
    """(panel title, target) for every query of every panel."""
    for panel in _dashboard()["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target


def _series(expr: str) -> set[str]:
    """Metric names in a PromQL expression: what is left once strings, label matchers, ranges,
    grouping clauses, dashboard variables and PromQL's own words are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\$\w+", "", expr)
    expr = GROUPING.sub("", expr)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr)) - PROMQL_WORDS


def test_metric_names_here_are_the_ones_the_engine_declares() -> None:
    declared = set()
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            for family in collector.collect():
                suffix = "_total" if family.type == "counter" else ""
                declared.add(family.name + suffix)
    assert declared == set(ENGINE_METRICS)


def test_dashboard_queries_use_only_the_engine_metrics() -> None:
    for title, target in _targets():
        series = _series(target["expr"])
        assert series, f"{title}: no metric in {target['expr']}"
        assert series <= set(SERIES), f"{title}: {series - set(SERIES)}"


def test_dashboard_groups_and_labels_by_labels_the_metrics_have() -> None:
    for title, target in _targets():
        labels = set().union(*(SERIES[s] for s in _series(target["expr"])))
        grouped = {
            label.strip()
            for match in GROUPING.findall(target["expr"])
            for label in match.split(",")
        }
        assert grouped <= labels, f"{title}: {grouped - labels}"
        legend = set(re.findall(r"\{\{(\w+)\}\}", target["legendFormat"]))
        assert legend <= grouped, f"{title}: legend shows {legend - grouped}, not grouped by"


def test_dashboard_takes_rates_of_counters_and_quantiles_of_histograms() -> None:
    for title, target in _targets():
        expr = target["expr"]
        for counter in re.findall(r"(\w*)\((campaign_\w+_total)\b", expr):
            assert counter[0] in {"rate", "increase"}, f"{title}: raw counter {counter[1]}"
        for bucket in re.findall(r"campaign_\w+_bucket", expr):
            assert "histogram_quantile(" in expr, f"{title}: {bucket} without a quantile"


def test_dashboard_shows_every_engine_metric() -> None:
    used = set().union(*(_series(target["expr"]) for _, target in _targets()))
    for name in ENGINE_METRICS:
        assert used & {s for s in SERIES if s.startswith(name)}, f"{name} is on no panel"


def test_dashboard_variables_query_engine_metrics_and_panels_use_the_datasource_variable() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    definition = LABEL_VALUES.fullmatch(variables["campaign"]["definition"])
    assert definition is not None
    metric, label = definition.groups()
    assert label in ENGINE_METRICS[metric]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    promtool = tool("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    rules = [
        {
            "record": f"dashboard:query_{number}",
            "expr": target["expr"].replace("$__rate_interval", "1m").replace("$campaign", ".*"),
        }
        for number, (_, target) in enumerate(_targets())
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _compose_scrape_targets() -> dict[str, int]:
    config = load_yaml(DEPLOY / "prometheus" / "scrape.yml")
    targets = {}
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for sd in job["dns_sd_configs"]:
            for name in sd["names"]:
                targets[name] = sd["port"]
    return targets


def test_compose_scrape_config_reaches_every_metrics_endpoint() -> None:
    services = compose()["services"]
    metrics_port = int(services["worker"]["environment"]["METRICS_PORT"])
    assert _compose_scrape_targets() == {
        "api": metrics_port,  # not the api's own port, which serves no /metrics
        "worker": metrics_port,
        "dispatcher": metrics_port,
    }
    volumes = services["prometheus"]["volumes"]
    assert "./deploy/prometheus/scrape.yml:/etc/prometheus/prometheus.yml:ro" in volumes


def test_compose_scrape_config_passes_promtool() -> None:
    promtool = tool("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    result = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus" / "scrape.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_scrape_job_keeps_the_annotated_pods_of_the_namespace() -> None:
    (job,) = load_yaml(KUBERNETES_SCRAPE)["scrape_configs"]
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["role"] == "pod"
    assert sd["namespaces"]["names"] == [load_yaml(BASE / "kustomization.yaml")["namespace"]]
    keep = job["relabel_configs"][0]
    assert keep["action"] == "keep"
    assert keep["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
    # Every engine process serves /metrics; PgBouncer has none of its own.
    annotated = [
        owner["spec"]["template"]["metadata"].get("annotations", {})
        for owner, _ in engine_pod_specs(render(BASE).objects)
        if owner["kind"] == "Deployment"
    ]
    assert all(re.fullmatch(keep["regex"], a["prometheus.io/scrape"]) for a in annotated)
    sources = {label for rule in job["relabel_configs"] for label in rule["source_labels"]}
    assert "__meta_kubernetes_pod_annotation_prometheus_io_port" in sources
    assert "__meta_kubernetes_pod_annotation_prometheus_io_path" in sources


def _mounts(service: str) -> dict[str, str]:
    """Bind mounts of a compose service: container path -> host path."""
    mounts = {}
    for volume in compose()["services"][service]["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = source
    return mounts


def test_grafana_provisioning_loads_the_mounted_dashboard_from_the_compose_prometheus() -> None:
    mounts = _mounts("grafana")
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert (ROOT / mounts["/etc/grafana/provisioning"]).resolve() == provisioning
    (provider,) = load_yaml(provisioning / "dashboards" / "campaign.yml")["providers"]
    dashboard_target = next(t for t, s in mounts.items() if s.endswith("dashboard.json"))
    assert (ROOT / mounts[dashboard_target]).resolve() == DASHBOARD
    assert str(Path(dashboard_target).parent) == provider["options"]["path"]
    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in compose()["services"]
