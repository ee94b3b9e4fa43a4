"""deploy/kubernetes, checked without a cluster.

The Kustomize builds (the services, and the migration Jobs in migrate/) are made here by a small
loader that knows the features the files use (resources, secretGenerator from an env file with
a fixed name); where `kubectl` is on PATH its `kubectl kustomize` must give the same objects.
Every object is validated against the Kubernetes API schema of KUBERNETES_VERSION
(kubernetes-validate, strict: an unknown field is an error), then the references between them
are checked: each service's Deployment runs the image the Dockerfile builds for it, on its port,
with its probes, resources and a locked-down security context; its Services, PodDisruptionBudget
and autoscaler select it; every ConfigMap and Secret key a pod reads exists; each service has a
migration Job running its `migrate` command before the Deployments start without migrating.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tests.unit.test_compose import (
    ROOT,
    SERVICES,
    container_command,
    env_pairs,
    final_stage,
    resolved_instructions,
    service,
    service_names,
)

KUBERNETES_VERSION = "1.30.0"
DEPLOY = ROOT / "deploy" / "kubernetes"
SECRETS_EXAMPLE = DEPLOY / "config" / "secrets.env.example"
EXAMPLES = DEPLOY / "examples"


# --- the build ---------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value
    return pairs


def kustomize(directory: Path) -> list[dict]:
    """The objects `kustomize build directory` makes, for the features these files use."""
    document = yaml.safe_load((directory / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "resources", "secretGenerator", "generatorOptions"}
    assert set(document) <= known, f"{directory}: the loader does not know {set(document) - known}"
    objects: list[dict] = []
    for resource in document.get("resources", []):
        path = (directory / resource).resolve()
        if path.is_dir():
            objects += kustomize(path)
        else:
            objects += [item for item in yaml.safe_load_all(path.read_text()) if item]
    options = document.get("generatorOptions", {})
    assert set(options) <= {"disableNameSuffixHash", "labels"}
    for generator in document.get("secretGenerator", []):
        assert set(generator) == {"name", "envs"}, generator
        assert options.get("disableNameSuffixHash"), "a hashed name would need the loader to rewrite references"
        data: dict[str, str] = {}
        for env_file in generator["envs"]:
            data.update(read_env_file(directory / env_file))
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": generator["name"], **({"labels": options["labels"]} if "labels" in options else {})},
            "type": "Opaque",
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
        }
        objects.append(secret)
    names = [(item["kind"], item["metadata"]["name"]) for item in objects]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"{directory}: defined twice: {duplicates}"
    return objects


@pytest.fixture(scope="module")
def deploy_copy(tmp_path_factory) -> Path:
    """deploy/kubernetes with the secrets.env an operator writes: every key of the example, with a value."""
    copy = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("secrets.env"))
    keys = read_env_file(SECRETS_EXAMPLE)
    (copy / "config" / "secrets.env").write_text("".join(f"{key}=value-of-{key.lower()}\n" for key in keys))
    return copy


@pytest.fixture(scope="module")
def services_build(deploy_copy) -> list[dict]:
    return kustomize(deploy_copy)


@pytest.fixture(scope="module")
def migrate_build(deploy_copy) -> list[dict]:
    return kustomize(deploy_copy / "migrate")


def only(objects: list[dict], kind: str, name: str) -> dict:
    found = [item for item in objects if item["kind"] == kind and item["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [item for item in objects if item["kind"] == kind]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def the_container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# --- schema and build --------------------------------------------------------------------


def test_every_object_is_valid_for_the_stated_kubernetes_version(services_build, migrate_build):
    examples = [item for path in sorted(EXAMPLES.glob("*.yaml")) for item in yaml.safe_load_all(path.read_text()) if item]
    assert examples, "examples/ should show the external services"
    for item in services_build + migrate_build + examples:
        try:
            kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{item['kind']}/{item['metadata']['name']}: {error.message} at {list(error.path)}")


def test_the_validator_rejects_an_unknown_field(services_build):
    """The check above can fail: strict validation refuses a misspelt field."""
    deployment = json.loads(json.dumps(only(services_build, "Deployment", "gateway")))
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("where", ["", "migrate"])
def test_kubectl_kustomize_builds_the_same_objects(deploy_copy, where):
    directory = deploy_copy / where
    result = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    built = {(item["kind"], item["metadata"]["name"]): item for item in yaml.safe_load_all(result.stdout) if item}
    loaded = {(item["kind"], item["metadata"]["name"]): item for item in kustomize(directory)}
    assert built == loaded


def test_the_secret_template_has_keys_only_and_the_real_file_is_ignored():
    keys = read_env_file(SECRETS_EXAMPLE)
    assert keys and all(value == "" for value in keys.values()), "the example must hold no value"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DEPLOY / "config" / "secrets.env")], cwd=ROOT)
    assert ignored.returncode == 0, "deploy/kubernetes/config/secrets.env must be ignored by git"


def test_the_configmap_holds_no_secret_and_services_start_without_migrating(services_build):
    data = only(services_build, "ConfigMap", "simpul-config")["data"]
    secret_like = [key for key in data if re.search(r"SECRET|PASSWORD|PASSPHRASE|DATABASE_URL|BROKER|REDIS", key)]
    assert not secret_like, f"these belong in the Secret: {secret_like}"
    assert data["SIMPUL_MIGRATE_ON_START"] == "0"


def test_every_key_a_pod_reads_exists(services_build, migrate_build):
    for build in (services_build, migrate_build):
        maps = {item["metadata"]["name"]: set(item["data"]) for item in of_kind(build, "ConfigMap")}
        secrets = {item["metadata"]["name"]: set(item["data"]) for item in of_kind(build, "Secret")}
        for workload in of_kind(build, "Deployment") + of_kind(build, "Job"):
            for container in workload["spec"]["template"]["spec"]["containers"]:
                for source in container.get("envFrom", []):
                    assert source["configMapRef"]["name"] in maps, workload["metadata"]["name"]
                for variable in container.get("env", []):
                    reference = variable.get("valueFrom", {})
                    if "secretKeyRef" in reference:
                        ref, pool = reference["secretKeyRef"], secrets
                    elif "configMapKeyRef" in reference:
                        ref, pool = reference["configMapKeyRef"], maps
                    else:
                        continue
                    assert ref["key"] in pool.get(ref["name"], set()), f"{workload['metadata']['name']}: {ref}"
                    assert ref["key"] == variable["name"], "the key is the setting's own name"


# --- each service --------------------------------------------------------------------------


def image_runtime(name: str) -> tuple[dict[str, str], list[str], str, set[int]]:
    """What the Dockerfile's runtime stage gives `name`'s container: ENV, command, USER, ports."""
    runtime = final_stage(resolved_instructions(name))
    image_env: dict[str, str] = {}
    for keyword, arguments in runtime:
        if keyword == "ENV":
            image_env.update(env_pairs(arguments))
    command = container_command(json.loads(next(arguments for keyword, arguments in runtime if keyword == "CMD")), image_env)
    user = [arguments for keyword, arguments in runtime if keyword == "USER"][-1]
    exposed = {int(port) for keyword, arguments in runtime if keyword == "EXPOSE" for port in arguments.split()}
    return image_env, command, user, exposed


@service_names
def test_each_deployment_runs_its_image_on_its_port_as_the_image_user(services_build, name):
    image_env, command, user, exposed = image_runtime(name)
    deployment = only(services_build, "Deployment", name)
    container = the_container(deployment)
    assert container["image"] == service(name)["image"], "the image docker-compose builds from the Dockerfile"
    assert "command" not in container and "args" not in container, f"the image's own command runs: {command}"
    assert [port["containerPort"] for port in container["ports"]] == [SERVICES[name][2]] == sorted(exposed)
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    uid, _, gid = user.partition(":")
    assert pod_security["runAsNonRoot"] is True
    assert str(pod_security["runAsUser"]) == uid and str(pod_security["runAsGroup"]) == gid
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    # With a read-only root, every place the process writes is a volume.
    volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert image_env["SIMPUL_DATA_DIR"] in mounts
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


@service_names
def test_each_deployment_has_replicas_probes_and_measured_resources(services_build, name):
    deployment = only(services_build, "Deployment", name)
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = the_container(deployment)
    port_names = {port["name"] for port in container["ports"]}
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
    for probe, path in expected.items():
        check = container[probe]["httpGet"]
        assert check["path"] == path and check["port"] in port_names, f"{name}: {probe}"
    # Stopping: endpoints drop the pod during preStop, then uvicorn gets 10 s to finish requests.
    drain = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert drain >= container["readinessProbe"]["periodSeconds"]
    assert drain + 10 <= deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "the image allows a 60 s start"
    resources = container["resources"]
    for what in ("cpu", "memory"):
        request, limit = quantity(resources["requests"][what]), quantity(resources["limits"][what])
        assert 0 < request <= limit, f"{name}: {what} request {request} above its limit {limit}"
    assert quantity(resources["limits"]["memory"]) >= 256 * 2**20, "every service measured ~100 MB RSS idle"


def quantity(text: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    text = str(text)
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


@service_names
def test_each_deployment_has_services_a_disruption_budget_and_an_autoscaler(services_build, name):
    deployment = only(services_build, "Deployment", name)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    others = [item["spec"]["template"]["metadata"]["labels"] for item in of_kind(services_build, "Deployment") if item is not deployment]
    port = SERVICES[name][2]
    for service_name, headless in ((name, False), (f"{name}-pods", True)):
        kube_service = only(services_build, "Service", service_name)["spec"]
        assert selects(kube_service["selector"], pod_labels)
        assert not any(selects(kube_service["selector"], labels) for labels in others)
        assert (kube_service.get("clusterIP") == "None") is headless
        assert [(entry["port"], entry["targetPort"]) for entry in kube_service["ports"]] == [(port, "http")]
    budget = only(services_build, "PodDisruptionBudget", name)["spec"]
    assert budget["minAvailable"] == 1 and selects(budget["selector"]["matchLabels"], pod_labels)
    assert not any(selects(budget["selector"]["matchLabels"], labels) for labels in others)
    scaler = only(services_build, "HorizontalPodAutoscaler", name)
    assert scaler["apiVersion"] == "autoscaling/v2"
    target = scaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", name)
    assert scaler["spec"]["minReplicas"] >= 2 and scaler["spec"]["maxReplicas"] > scaler["spec"]["minReplicas"]
    assert [metric["resource"]["name"] for metric in scaler["spec"]["metrics"]] == ["cpu"]


@service_names
def test_the_others_reach_each_service_on_every_ready_pod(services_build, name):
    """SIMPUL_<SERVICE>_URL names the headless Service: one address per ready pod, balanced by the callers."""
    data = only(services_build, "ConfigMap", "simpul-config")["data"]
    url = urlsplit(data[f"SIMPUL_{name.upper()}_URL"])
    assert (url.hostname, url.port) == (f"{name}-pods", SERVICES[name][2])


@service_names
def test_each_service_reads_only_its_own_database(services_build, name):
    env = {variable["name"] for variable in the_container(only(services_build, "Deployment", name))["env"]}
    own = SERVICES[name][3]
    assert own in env
    assert not {SERVICES[other][3] for other in SERVICES if other != name} & env


@service_names
def test_each_service_has_a_migration_job_with_its_image_and_database(services_build, migrate_build, name):
    _, command, _, _ = image_runtime(name)
    job = only(migrate_build, "Job", f"{name}-migrate")
    container = the_container(job)
    assert container["image"] == the_container(only(services_build, "Deployment", name))["image"]
    assert container["command"] == [*command, "migrate"] == ["python", "-m", f"simpul.{SERVICES[name][1]}", "migrate"]
    # Its database, and of the Deployment's secrets only those a migration reads.
    job_env = [variable["name"] for variable in container["env"]]
    deployment_env = {variable["name"] for variable in the_container(only(services_build, "Deployment", name))["env"]}
    assert job_env[0] == SERVICES[name][3] and set(job_env) <= deployment_env
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The Jobs are applied on their own, before the Deployments: not part of the services' build.
    assert not of_kind(services_build, "Job")


@pytest.mark.parametrize("name", ["gateway", "signatures", "notifications"])
def test_every_copy_and_migration_that_seals_keys_has_the_one_key_encryption_key(services_build, migrate_build, name):
    """Replicas that made keys of their own would refuse each other's signing keys."""
    for workload in (only(services_build, "Deployment", name), only(migrate_build, "Job", f"{name}-migrate")):
        sources = {variable["name"]: variable.get("valueFrom", {}) for variable in the_container(workload)["env"]}
        assert sources["SIMPUL_KEY_ENCRYPTION_KEY"]["secretKeyRef"]["name"] == "simpul-secrets"
