"""The observability files (deploy/observability) and the compose profile "observability".

- Alert rules: ``promtool check rules`` and the promtool unit tests (lag, not ready, 5xx, dead
  letters, down), which must also fail against broken rules.
- Dashboard: every query parses as PromQL (promtool), names only metrics and labels that
  ``kith_shared.observability`` exports, and together they cover what an operator needs; panel ids
  are unique and every panel has the datasource.
- Prometheus, Grafana and collector configurations agree with the compose services that run them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from kith_shared import observability, tracing
from tests.deploy_files import BY_NAME, COMPOSE, OBSERVABILITY, ROOT, compose, interpolate, tool

pytestmark = pytest.mark.unit

PROMETHEUS = OBSERVABILITY / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts.test.yml"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "kith.json"
PROFILE = "observability"
PROFILE_SERVICES = {"prometheus", "grafana", "otel-collector", "jaeger"}
#: Labels Prometheus adds to every scraped series (kith_service: our scrape configs' target label).
TARGET_LABELS = {"instance", "job", "kith_service"}
#: The metrics every service exports, each of which the dashboard charts.
CORE_METRICS = {
    "kith_events_in_total",
    "kith_events_out_total",
    "kith_http_request_seconds_bucket",
    "kith_consumer_lag",
    "kith_dead_letters_total",
    "kith_batch_size_bucket",
    "kith_store_seconds_bucket",
    "kith_ready",
}


# --- what the services export -------------------------------------------------------------------------


def exported() -> dict[str, set[str]]:
    """Return every sample name ``kith_shared.observability`` exports, with its label names."""
    samples: dict[str, set[str]] = {}
    for value in vars(observability).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        name, kind, labels = value._name, str(value._type), set(value._labelnames)
        suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}[kind]
        for suffix in suffixes:
            samples[name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return samples


def recorded() -> dict[str, set[str]]:
    """Return the series the recording rules make, with the labels they keep (their by-clause)."""
    series: dict[str, set[str]] = {}
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                (outer,) = re.findall(r"^\s*\w+\s+by\s*\(([^)]*)\)", rule["expr"])
                series[rule["record"]] = {label.strip() for label in outer.split(",")}
    return series


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
_METRIC = re.compile(r"\b(kith[a-z0-9_:]*|up)\b")


def references(expr: str) -> tuple[set[str], set[str]]:
    """Return the metric names and the label names a PromQL expression uses."""
    matchers = " ".join(_MATCHERS.findall(expr))
    labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", _STRING.sub('""', matchers)))
    for group in _GROUPING.findall(expr):
        labels |= {label.strip() for label in group.split(",") if label.strip()}
    bare = _MATCHERS.sub("", _STRING.sub('""', expr))
    return set(_METRIC.findall(bare)), labels


def assert_known(expr: str, where: str) -> set[str]:
    """Fail unless the expression names only exported or recorded series and their labels; return the names."""
    known = exported() | recorded() | {"up": set(TARGET_LABELS)}
    metrics, labels = references(expr)
    assert metrics, f"{where}: no Kith metric in {expr!r}"
    unknown = metrics - set(known)
    assert not unknown, f"{where}: {sorted(unknown)} are not exported by kith_shared.observability"
    allowed = set().union(*(known[metric] for metric in metrics)) | TARGET_LABELS
    assert labels <= allowed, f"{where}: labels {sorted(labels - allowed)} do not exist on {sorted(metrics)}"
    return metrics


def test_the_catalogue_holds_every_metric_the_services_export() -> None:
    assert set(exported()) >= CORE_METRICS
    assert exported()["kith_consumer_lag"] == {"service", "topic", "partition"}
    assert exported()["kith_ready"] == {"service", "dependency"}
    with pytest.raises(AssertionError, match="not exported"):
        assert_known('sum(rate(kith_events_in{service="x"}[5m]))', "a typo")
    with pytest.raises(AssertionError, match="do not exist"):
        assert_known("sum by (door) (kith_consumer_lag)", "a wrong label")


# --- alert rules --------------------------------------------------------------------------------------


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = tool("promtool")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, timeout=120)  # noqa: S603


def alerts() -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_alert_rules_pass_promtool_check() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alert_rules_pass_their_promtool_unit_tests() -> None:
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    names = {test["name"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]}
    alerted = {
        check["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for check in test.get("alert_rule_test", [])
    }
    assert alerted == set(alerts()), "every alert has a unit test"
    assert len(names) == len(yaml.safe_load(RULE_TESTS.read_text())["tests"])


def test_the_unit_tests_catch_a_broken_lag_or_readiness_rule(tmp_path: Path) -> None:
    text = RULES.read_text()
    broken = text.replace("expr: kith_ready == 0", "expr: kith_ready == 2").replace("for: 15m", "for: 45m")
    assert broken.count("\n") == text.count("\n")
    assert broken != text
    (tmp_path / "alerts.yml").write_text(broken)
    shutil.copy(RULE_TESTS, tmp_path / "alerts.test.yml")
    tested = promtool("test", "rules", str(tmp_path / "alerts.test.yml"))
    assert tested.returncode != 0
    assert "KithConsumerLagGrowing" in tested.stdout + tested.stderr
    assert "KithNotReady" in tested.stdout + tested.stderr


def test_the_alerts_an_operator_needs_exist_and_use_real_metrics() -> None:
    rules = alerts()
    used = {name: assert_known(rule["expr"], name) for name, rule in rules.items()}
    assert used["KithConsumerLagGrowing"] == {"kith:consumer_lag:sum"}
    assert "kith_consumer_lag" in recorded_exprs()["kith:consumer_lag:sum"]
    assert used["KithNotReady"] == {"kith_ready"}
    assert used["KithDeadLetters"] == {"kith_dead_letters_total"}
    assert used["KithHttpErrors"] == {"kith_http_request_seconds_count"}
    assert '"5.."' in rules["KithHttpErrors"]["expr"]
    for name, rule in rules.items():
        assert rule["for"], f"{name} must hold for a while before it fires"
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


def recorded_exprs() -> dict[str, str]:
    return {
        rule["record"]: rule["expr"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


# --- dashboard ----------------------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    document = json.loads(DASHBOARD.read_text())
    assert isinstance(document, dict)
    return document


def panels() -> list[dict[str, Any]]:
    """Return every panel, rows and the panels of collapsed rows included."""
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in panels() for target in panel.get("targets", [])]


def test_dashboard_panels_have_unique_ids_a_datasource_and_queries() -> None:
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {variable["name"]: variable for variable in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert dashboard()["uid"]
    for panel in panels():
        if panel["type"] == "row":
            continue
        where = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert panel["targets"], f"{where}: no query"
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], where
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, where


def test_dashboard_queries_name_exported_metrics_and_labels() -> None:
    used: set[str] = set()
    for title, expr in queries():
        used |= assert_known(expr, title)
    assert CORE_METRICS | {"kith_http_request_seconds_count"} <= used


def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    """Check every query with promtool, as recording rules, after Grafana's variables are filled in."""
    substituted = [
        expr.replace("$__rate_interval", "5m").replace("$service", ".*").replace("$__interval", "1m")
        for _, expr in queries()
    ]
    assert not any("$" in expr for expr in substituted), "an unknown Grafana variable"
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{index}:check", "expr": expr} for index, expr in enumerate(substituted)
    ]}]}  # fmt: skip
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum by (a (b)"}]}]}))
    assert promtool("check", "rules", str(path)).returncode != 0


def test_dashboard_covers_latency_quantiles_lag_per_partition_and_ingest_answers() -> None:
    exprs = [expr for _, expr in queries()]
    for quantile in ("0.5", "0.95", "0.99"):
        assert any(
            f"histogram_quantile({quantile}," in expr
            and "kith_http_request_seconds_bucket" in expr
            and "by (service, route, le)" in expr
            for expr in exprs
        ), f"HTTP latency p{quantile} per service and route"
    assert any("kith_consumer_lag" in expr and "partition" in expr for expr in exprs)
    assert any('service="ingest"' in expr and "by (route, status)" in expr for expr in exprs)
    assert any("kith_dead_letters_total" in expr and "by (service, error)" in expr for expr in exprs)
    assert any("kith_store_seconds_bucket" in expr and "by (service, operation, le)" in expr for expr in exprs)


# --- the compose profile and the configurations it mounts ---------------------------------------------


def mounts(service: str) -> dict[str, Path]:
    """Return a compose service's bind mounts: container path -> repository path."""
    found: dict[str, Path] = {}
    for volume in compose()["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            found[target] = ROOT / source
    return found


def test_the_observability_profile_runs_next_to_the_stack() -> None:
    services = compose()["services"]
    profiled = {name for name, spec in services.items() if spec.get("profiles")}
    assert profiled == PROFILE_SERVICES
    for name in PROFILE_SERVICES:
        assert services[name]["profiles"] == [PROFILE]
        for port in services[name].get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond the loopback"
    for name in PROFILE_SERVICES - {"otel-collector"}:
        assert services[name]["healthcheck"]["test"], f"{name} needs a healthcheck"


def test_prometheus_scrapes_every_service_and_loads_the_rules() -> None:
    prometheus = compose()["services"]["prometheus"]
    config_path = next(arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--config.file="))
    mounted = mounts("prometheus")
    config_file = mounted[config_path]
    checked = promtool("check", "config", str(config_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(config_file.read_text())
    for rule_file in config["rule_files"]:
        assert mounted[str(Path(config_path).parent / rule_file)] == RULES
    (kith,) = [job for job in config["scrape_configs"] if job["job_name"] == "kith"]
    targets = {
        target: group["labels"]["kith_service"] for group in kith["static_configs"] for target in group["targets"]
    }
    assert targets == {f"{name}:{service.port}": name for name, service in BY_NAME.items()}
    assert kith["metrics_path"] == "/metrics"


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    mounted = mounts("grafana")
    provisioning = mounted["/etc/grafana/provisioning"]
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert datasource["isDefault"] is True
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "kith.yml").read_text())["providers"]
    assert mounted[provider["options"]["path"]] == DASHBOARD.parent
    home = compose()["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert mounted[str(Path(home).parent)] / Path(home).name == DASHBOARD


def test_services_send_traces_to_the_collector_which_forwards_them_to_jaeger() -> None:
    services = compose()["services"]
    collector_config_path = services["otel-collector"]["command"][0].split("=", 1)[1]
    config = yaml.safe_load(mounts("otel-collector")[collector_config_path].read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert set(pipeline[kind]) <= set(config[kind]), f"the traces pipeline names an undefined {kind[:-1]}"
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for name in BY_NAME:
        environment = {key: interpolate(str(value)) for key, value in services[name]["environment"].items()}
        assert environment["OTEL_SERVICE_NAME"] == name
        assert environment["OTEL_TRACES_EXPORTER"] == "none", "tracing is off unless asked for"
        assert environment["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf", "the one protocol the services export"
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://otel-collector:{http.rsplit(':', 1)[1]}"
        assert tracing.exporter_names({**environment, "OTEL_TRACES_EXPORTER": "otlp"}) == ["otlp"]
        tracing.otlp_exporter(environment)  # the services accept what compose sets (a bad protocol raises)
    (exporter,) = pipeline["exporters"]
    host, port = config["exporters"][exporter]["endpoint"].split(":")
    assert host in services
    assert services[host]["profiles"] == [PROFILE]
    assert port == "4317", "Jaeger receives OTLP over gRPC on 4317"
    assert "${OTEL_TRACES_EXPORTER:-none}" in COMPOSE.read_text()
