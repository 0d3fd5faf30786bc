"""Kustomize base and overlays: they render, pass strict schema validation, and wire up.

Built-in kinds are checked by kubernetes-validate in strict mode (unknown fields
fail); KEDA and prometheus-operator objects by cloudcoil's pydantic models, where
a field the model does not know counts as an error too.
"""

from __future__ import annotations

import base64

import pytest

from render_core.api_server import SERVERS, ServerOptions, server_argv
from render_core.config.settings import Settings
from render_core.worker.middleware.shutdown import dramatiq_shutdown_timeout

from deploy_support import (
    DEPLOY_DIR, OVERLAYS, env_value, generated, ip_allowed_by, objects, pod_spec, require_module,
    selector_matches, the_object, workloads,
)

#: Kubernetes versions the built-in objects must validate against (oldest we support, newest known).
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

#: Custom resources -> (cloudcoil module, model class).
CRD_MODELS = {
    ("keda.sh/v1alpha1", "ScaledObject"): ("cloudcoil.models.keda.v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): ("cloudcoil.models.keda.v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("cloudcoil.models.prometheus_operator.v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("cloudcoil.models.prometheus_operator.v1", "PrometheusRule"),
}

#: Dramatiq queues (Redis lists) the workers consume.
QUEUE_LISTS = {
    "dramatiq:task.csm", "dramatiq:task.whisper", "dramatiq:task.portrait", "dramatiq:task.analyze",
    "dramatiq:webhooks",
}

#: Settings every API and worker container must receive (ConfigMap or env).
PLAIN_SETTINGS = (
    "REDIS_HOST", "REDIS_PORT", "MINIO_ENDPOINT", "MINIO_BUCKET", "MINIO_SECURE", "MINIO_PUBLIC_URL",
    "MINIO_REGION", "C3_API_URL", "GPU_PROVIDER", "GPU_IDLE_TIMEOUT", "PRE_LAUNCH_TIMEOUT",
    "PRE_LAUNCH_TIMEOUT_MAX", "MAX_RENDER_TIME", "RENDER_POLLING_INTERVAL", "OUTPUT_DIR", "JOB_TTL",
    "WEBHOOK_SCHEDULE", "WORKER_PROCESSES", "WORKER_THREADS", "WORKER_SHUTDOWN_TIMEOUT",
    "BROKER_HEARTBEAT_TIMEOUT", "BROKER_MAINTENANCE_CHANCE", "BROKER_MAINTENANCE_INTERVAL", "METRICS_PORT",
    "PROMETHEUS_MULTIPROC_DIR", "LOG_LEVEL", "API_SERVER", "API_WORKERS", "API_THREADS", "API_ACCESS_LOG",
)
#: Settings that come from the Secret, per Deployment: the API gets no GPU provider key.
SECRET_SETTINGS = {
    "c3-render-api": ("REDIS_URL", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "C3_RENDER_API_KEY"),
    "c3-render-worker": ("REDIS_URL", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "C3_RENDER_API_KEY", "C3_API_KEY"),
}
#: Secrets a Deployment must not receive.
WITHHELD_SECRETS = {"c3-render-api": ("C3_API_KEY", "STATIC_NODE_KEY"), "c3-render-worker": ()}
SECRET_NAME = "c3-render-secrets"
CONFIG_NAME = "c3-render-config"

PRIVATE_SAMPLES = ("10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "127.0.0.1", "fd12::1", "fe80::1")
METADATA_ADDRESSES = ("169.254.169.254", "fd00:ec2::254")
PUBLIC_SAMPLES = ("1.1.1.1", "8.8.8.8", "2606:4700:4700::1111")

ALL_BUILDS = ["base", *OVERLAYS]


def config_of(docs) -> dict[str, str]:
    config_map = generated(docs, "ConfigMap", CONFIG_NAME)
    assert config_map is not None, f"ConfigMap {CONFIG_NAME} is not rendered"
    return config_map["data"]


def app_containers(docs):
    """(deployment name, container) of the API and the worker."""
    for name in ("c3-render-api", "c3-render-worker"):
        for container in pod_spec(the_object(docs, "Deployment", name))["containers"]:
            yield name, container


def dropped_fields(original, kept, path="") -> list[str]:
    """Paths present in ``original`` but missing from the model's dump ``kept``."""
    if isinstance(original, dict) and isinstance(kept, dict):
        missing = []
        for key, value in original.items():
            if key not in kept:
                missing.append(f"{path}.{key}")
            else:
                missing += dropped_fields(value, kept[key], f"{path}.{key}")
        return missing
    if isinstance(original, list) and isinstance(kept, list):
        return [m for i, (a, b) in enumerate(zip(original, kept)) for m in dropped_fields(a, b, f"{path}[{i}]")]
    return [] if original == kept else [f"{path} ({original!r} became {kept!r})"]


# ---- schema validation -------------------------------------------------------------------------

@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("build", ALL_BUILDS)
def test_builtin_objects_pass_strict_schema_validation(rendered, build, version):
    kubernetes_validate = require_module("kubernetes_validate", "kubernetes-validate")
    problems = []
    for doc in rendered[build]:
        if (doc["apiVersion"], doc["kind"]) in CRD_MODELS:
            continue
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{where}: {error.message} at {'/'.join(map(str, error.path))}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: no schema for {doc['apiVersion']} {doc['kind']} in Kubernetes {version}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("build", ALL_BUILDS)
def test_custom_resources_match_operator_models(rendered, build):
    require_module("cloudcoil.models.keda", "cloudcoil-models-keda")
    require_module("cloudcoil.models.prometheus_operator", "cloudcoil-models-prometheus-operator")
    seen = set()
    problems = []
    for doc in rendered[build]:
        key = (doc["apiVersion"], doc["kind"])
        if key not in CRD_MODELS:
            continue
        seen.add(key)
        module_name, class_name = CRD_MODELS[key]
        model = getattr(require_module(module_name, module_name), class_name)
        parsed = model.model_validate(doc)  # raises on a wrong type or a missing required field
        kept = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
        problems += [f"{doc['kind']}/{doc['metadata']['name']}: unknown field {p}" for p in dropped_fields(doc, kept)]
    assert not problems, "\n".join(problems)
    assert seen == set(CRD_MODELS), f"missing custom resources: {set(CRD_MODELS) - seen}"


def test_model_check_catches_an_unknown_field():
    """The strictness check itself: a misspelt ScaledObject field is reported."""
    module = require_module("cloudcoil.models.keda.v1alpha1", "cloudcoil-models-keda")
    doc = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"},
           "spec": {"scaleTargetRef": {"name": "w"}, "minReplicas": 1,
                    "triggers": [{"type": "redis", "metadata": {"listName": "q"}}]}}
    kept = module.ScaledObject.model_validate(doc).model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert dropped_fields(doc, kept) == [".spec.minReplicas"]


# ---- API and worker ----------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_runs_gunicorn_on_5000_with_health_probes(rendered, overlay):
    api = the_object(rendered[overlay], "Deployment", "c3-render-api")
    container = pod_spec(api)["containers"][0]
    assert container["args"] == ["api"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == 5000
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_server_is_chosen_by_one_setting(rendered, overlay):
    docs = rendered[overlay]
    container = pod_spec(the_object(docs, "Deployment", "c3-render-api"))["containers"][0]
    server = env_value(container, config_of(docs), "API_SERVER")
    assert server in SERVERS
    # what `c3-render api` runs with that setting, and with the other server
    for chosen in SERVERS:
        argv = server_argv(ServerOptions(server=chosen, bind="0.0.0.0:5000"))
        assert argv[1:3] == ["-m", chosen] and argv[-1] == "render_api.wsgi:app"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_requests_cpu_and_memory(rendered, overlay):
    for workload in workloads(rendered[overlay]):
        for container in pod_spec(workload)["containers"]:
            resources = container.get("resources", {})
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{where} lacks requests"
            assert "memory" in resources.get("limits", {}), f"{where} lacks a memory limit"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_meet_the_restricted_pod_security_standard(rendered, overlay):
    docs = rendered[overlay]
    for namespace in objects(docs, "Namespace"):
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload in workloads(docs):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in spec["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_shutdown_lets_every_job_finish_or_requeue(rendered, overlay):
    """MAX_RENDER_TIME caps every job's run time; the drain covers it (a rollout lets running jobs
    finish), and the kubelet's grace covers the drain plus the requeue of what still runs."""
    docs = rendered[overlay]
    worker = the_object(docs, "Deployment", "c3-render-worker")
    container = pod_spec(worker)["containers"][0]
    env = {s.name: env_value(container, config_of(docs), s.name) for s in Settings.declarations()}
    settings = Settings.from_env({name: value for name, value in env.items() if value is not None})
    grace_period = pod_spec(worker)["terminationGracePeriodSeconds"]
    assert container["args"] == ["worker"]
    assert settings.worker_shutdown_timeout >= settings.max_render_time + 30, \
        "a job of MAX_RENDER_TIME started just before SIGTERM would be requeued (no time to upload and notify)"
    assert grace_period >= dramatiq_shutdown_timeout(settings.worker_shutdown_timeout), \
        "the kubelet would SIGKILL before the worker has put its running jobs back in the queue"
    assert "replicas" not in worker["spec"], "KEDA owns the worker replica count"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budgets_cover_api_and_worker(rendered, overlay):
    docs = rendered[overlay]
    budgets = objects(docs, "PodDisruptionBudget")
    for name in ("c3-render-api", "c3-render-worker"):
        labels = the_object(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert any(selector_matches(pdb["spec"]["selector"], labels) for pdb in budgets), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_ingress_point_at_real_ports(rendered, overlay):
    docs = rendered[overlay]
    for service in objects(docs, "Service"):
        pods = [w for w in workloads(docs)
                if selector_matches(service["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])]
        assert pods, f"Service {service['metadata']['name']} selects no pods"
        port_names = {p["name"] for w in pods for c in pod_spec(w)["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"{service['metadata']['name']}: {port['targetPort']}"
    services = {s["metadata"]["name"]: {p["name"] for p in s["spec"]["ports"]} for s in objects(docs, "Service")}
    for ingress in objects(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["port"]["name"] in services[backend["name"]]


# ---- settings and secrets ----------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_reaches_api_and_worker(rendered, overlay):
    docs = rendered[overlay]
    config = config_of(docs)
    for name, container in app_containers(docs):
        envs_from = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
        assert envs_from and all(generated(docs, "ConfigMap", CONFIG_NAME)["metadata"]["name"] == n
                                 for n in envs_from)
        missing = [s for s in PLAIN_SETTINGS if env_value(container, config, s) is None]
        assert not missing, f"{name} lacks {missing}"
        secret_refs = {e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
        wanted = set(SECRET_SETTINGS[name])
        assert wanted <= secret_refs, f"{name} lacks secret refs {wanted - secret_refs}"
        given = {e["name"] for e in container.get("env", [])} | set(config)
        withheld = given & set(WITHHELD_SECRETS[name])
        assert not withheld, f"{name} must not receive {withheld}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secret_references_resolve_or_are_documented(rendered, overlay):
    """A rendered Secret must hold every required key; an external one (prod) must be documented."""
    docs = rendered[overlay]
    readme = (DEPLOY_DIR / "README.md").read_text()
    secret = generated(docs, "Secret", SECRET_NAME)
    refs = [(e["valueFrom"]["secretKeyRef"], w["metadata"]["name"])
            for w in workloads(docs) for c in pod_spec(w)["containers"] for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})]
    refs += [(ref, t["metadata"]["name"]) for t in objects(docs, "TriggerAuthentication")
             for ref in t["spec"]["secretTargetRef"]]
    for ref, user in refs:
        if secret is not None:
            assert ref["name"] == secret["metadata"]["name"], f"{user} refers to unknown Secret {ref['name']}"
            assert ref.get("optional") or ref["key"] in secret["data"], f"{user} needs {ref['key']}"
        else:
            assert ref["name"] == SECRET_NAME
            assert f"`{ref['key']}`" in readme, f"{ref['key']} used by {user} is not documented in deploy/README.md"


# ---- KEDA and monitoring -----------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_scales_the_worker_on_every_dramatiq_queue(rendered, overlay):
    docs = rendered[overlay]
    scaled = the_object(docs, "ScaledObject", "c3-render-worker")["spec"]
    assert scaled["scaleTargetRef"]["kind"] == "Deployment"
    the_object(docs, "Deployment", scaled["scaleTargetRef"]["name"])
    assert scaled["minReplicaCount"] >= 1, "the GPU pool monitor runs in the workers: keep one"
    assert {t["type"] for t in scaled["triggers"]} == {"redis"}
    assert {t["metadata"]["listName"] for t in scaled["triggers"]} == QUEUE_LISTS
    auth_names = {t["metadata"]["name"] for t in objects(docs, "TriggerAuthentication")}
    for trigger in scaled["triggers"]:
        assert int(trigger["metadata"]["listLength"]) > 0
        assert trigger["authenticationRef"]["name"] in auth_names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_redis_address_is_resolvable_from_the_keda_namespace(rendered, overlay):
    docs = rendered[overlay]
    auth = the_object(docs, "TriggerAuthentication", "c3-render-redis")
    assert "address" in {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
    secret = generated(docs, "Secret", SECRET_NAME)
    if secret is None:
        return  # external Secret (prod): its REDIS_ADDRESS is the operator's
    address = base64.b64decode(secret["data"]["REDIS_ADDRESS"]).decode()
    namespace = objects(docs, "Namespace")[0]["metadata"]["name"]
    host, port = address.rsplit(":", 1)
    assert host.endswith(f".{namespace}.svc.cluster.local") and port.isdigit(), address
    the_object(docs, "Service", host.split(".")[0])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitor_scrapes_api_and_worker(rendered, overlay):
    docs = rendered[overlay]
    monitor = the_object(docs, "ServiceMonitor", "c3-render")["spec"]
    selected = [s for s in objects(docs, "Service") if selector_matches(monitor["selector"], s["metadata"]["labels"])]
    assert {s["metadata"]["name"] for s in selected} == {"c3-render-api", "c3-render-worker"}
    for endpoint in monitor["endpoints"]:
        assert any(endpoint["port"] in {p["name"] for p in s["spec"]["ports"]} for s in selected)
        assert endpoint["path"] == "/metrics"
    worker = pod_spec(the_object(docs, "Deployment", "c3-render-worker"))["containers"][0]
    metrics_port = {p["name"]: p["containerPort"] for p in worker["ports"]}["metrics"]
    assert metrics_port == int(env_value(worker, config_of(docs), "METRICS_PORT"))


# ---- network policy ----------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_egress_reaches_internet_but_not_private_ranges(rendered, overlay):
    docs = rendered[overlay]
    worker_labels = the_object(docs, "Deployment", "c3-render-worker")["spec"]["template"]["metadata"]["labels"]
    policies = [p for p in objects(docs, "NetworkPolicy") if selector_matches(p["spec"]["podSelector"], worker_labels)]
    assert len(policies) == 1
    policy = policies[0]["spec"]
    assert "Egress" in policy["policyTypes"]
    rules = policy["egress"]
    assert any(p.get("port") == 53 for r in rules for p in r.get("ports", [])), "DNS must stay reachable"
    for address in PUBLIC_SAMPLES:
        assert any(ip_allowed_by(r, address) and not r.get("ports") for r in rules), address
    for address in METADATA_ADDRESSES:
        assert not any(ip_allowed_by(r, address) for r in rules), address
    for address in PRIVATE_SAMPLES:
        assert not any(ip_allowed_by(r, address) and not r.get("ports") for r in rules), address
    for rule in rules:  # a private range may be opened only for one service: narrow block, given ports
        for peer in rule.get("to", []):
            if "ipBlock" in peer and peer["ipBlock"]["cidr"] not in ("0.0.0.0/0", "::/0"):
                assert rule.get("ports") and int(peer["ipBlock"]["cidr"].split("/")[1]) >= 24, rule


# ---- overlay specifics -------------------------------------------------------------------------

def test_dev_runs_redis_with_append_only_file_and_minio(rendered):
    docs = rendered["dev"]
    redis = the_object(docs, "StatefulSet", "c3-render-redis")
    args = pod_spec(redis)["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--appendfsync") + 1] in ("everysec", "always")   # the README's loss windows
    data_dir = args[args.index("--dir") + 1]
    mounts = {m["mountPath"]: m["name"] for m in pod_spec(redis)["containers"][0]["volumeMounts"]}
    assert mounts[data_dir] in {t["metadata"]["name"] for t in redis["spec"]["volumeClaimTemplates"]}
    the_object(docs, "StatefulSet", "c3-render-minio")
    config = config_of(docs)
    assert config["REDIS_HOST"] == "c3-render-redis"
    host, port = config["MINIO_ENDPOINT"].split(":")
    assert port in {str(p["port"]) for p in the_object(docs, "Service", host)["spec"]["ports"]}


def test_prod_uses_external_redis_and_s3_and_ships_no_secret(rendered):
    docs = rendered["prod"]
    names = {w["metadata"]["name"] for w in workloads(docs)}
    assert names == {"c3-render-api", "c3-render-worker"}
    assert objects(docs, "Secret") == [], "production secrets are created out of band, never committed"
    config = config_of(docs)
    assert config["MINIO_SECURE"] == "true"
    assert config["GPU_PROVIDER"] == "comput3"
    ingress = the_object(docs, "Ingress", "c3-render-api")
    assert ingress["spec"]["tls"], "production traffic must be HTTPS"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_objects_live_in_the_overlay_namespace_with_tagged_images(rendered, overlay):
    docs = rendered[overlay]
    namespaces = objects(docs, "Namespace")
    assert len(namespaces) == 1
    namespace = namespaces[0]["metadata"]["name"]
    assert all(d["metadata"].get("namespace") == namespace for d in docs if d["kind"] != "Namespace")
    for workload in workloads(docs):
        for container in pod_spec(workload)["containers"]:
            name, _, tag = container["image"].rpartition(":")
            assert name and "/" not in tag, f"{container['image']} has no tag"
            if overlay == "prod":
                assert tag != "latest" and not tag.startswith("latest")
