"""The generated project's Kubernetes manifests (deploy/) and its static security checks.

Security catalogue §9 (graceful shutdown: preStop drain, termination grace above the graceful
timeout), §11/§12 (bandit with no medium/high findings, pip-audit, secret scanning in CI).
The manifests are checked as data: there is no cluster here, and kubeconform would download
its schemas. `kubectl kustomize` runs when kubectl is installed.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import checks
from tests.conftest import TEMPLATE_DIR, Render

Manifest = dict[str, Any]

KUSTOMIZATION = "kustomization.yaml"
SECRET_EXAMPLE = "secret.example.yaml"
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})
HEX_64 = re.compile(r"[0-9a-fA-F]{64}")
PLACEHOLDER = "CHANGE-ME"
LIVE, READY = "/health/live", "/health/ready"
BANDIT = Path(sys.executable).parent / "bandit"


# Reading the rendered project ---------------------------------------------------------------


# Without and with the features that add workloads: every general check covers them too.
DEPLOY_ANSWERS = [{}, {"celery": True}]


@pytest.fixture(
    scope="module", params=DEPLOY_ANSWERS, ids=lambda answers: "+".join(answers) or "base"
)
def project(render: Render, request: pytest.FixtureRequest) -> Path:
    answers: dict[str, Any] = request.param
    return render(**answers)


@pytest.fixture(scope="module")
def deploy(project: Path) -> Path:
    path = project / "deploy"
    assert path.is_dir(), "the generated project must have deploy/"
    return path


def _documents(path: Path) -> list[Manifest]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    assert docs, f"{path.name} holds no YAML document"
    for doc in docs:
        assert isinstance(doc, dict), f"{path.name}: every document must be a mapping"
    return docs


@pytest.fixture(scope="module")
def manifests(deploy: Path) -> dict[str, list[Manifest]]:
    """File name -> its Kubernetes objects, for every manifest except kustomization.yaml."""
    return {
        path.name: _documents(path)
        for path in sorted(deploy.glob("*.y*ml"))
        if path.name != KUSTOMIZATION
    }


@pytest.fixture(scope="module")
def kustomization(deploy: Path) -> Manifest:
    (doc,) = _documents(deploy / KUSTOMIZATION)
    return doc


def _objects(manifests: dict[str, list[Manifest]], *, examples: bool = False) -> Iterator[Manifest]:
    for name, docs in manifests.items():
        if examples or name != SECRET_EXAMPLE:
            yield from docs


def _one(manifests: dict[str, list[Manifest]], kind: str) -> Manifest:
    found = [obj for obj in _objects(manifests, examples=True) if obj["kind"] == kind]
    assert len(found) == 1, f"expected exactly one {kind}, found {len(found)}"
    return found[0]


def _workloads(manifests: dict[str, list[Manifest]]) -> list[Manifest]:
    workloads = [obj for obj in _objects(manifests) if obj["kind"] in WORKLOAD_KINDS]
    assert workloads
    return workloads


def _pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def _containers(workload: Manifest) -> list[Manifest]:
    spec = _pod_spec(workload)
    containers: list[Manifest] = [*spec.get("initContainers", []), *spec["containers"]]
    return containers


def _deployment(manifests: dict[str, list[Manifest]], component: str) -> Manifest:
    found = [
        obj
        for obj in _objects(manifests)
        if obj["kind"] == "Deployment"
        and obj["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected exactly one {component} Deployment, found {len(found)}"
    return found[0]


def _api(manifests: dict[str, list[Manifest]]) -> tuple[Manifest, Manifest]:
    """The API Deployment and its container (the one serving port 8000)."""
    deployment = _deployment(manifests, "api")
    (container,) = _pod_spec(deployment)["containers"]
    return deployment, container


def _dockerfile_user(project: Path) -> tuple[int, int | None]:
    users = re.findall(r"^USER\s+(\d+)(?::(\d+))?\s*$", (project / "Dockerfile").read_text(), re.M)
    assert users, "the Dockerfile must switch to a numeric USER"
    uid, gid = users[-1]
    return int(uid), int(gid) if gid else None


def _option(command: list[str], flag: str) -> str | None:
    """The value of `--flag value` or `--flag=value` in a container's command + args."""
    for index, word in enumerate(command):
        if word == flag and index + 1 < len(command):
            return command[index + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def _dockerfile_command(project: Path) -> list[str]:
    """The image's CMD (exec form, continuation lines joined)."""
    dockerfile = (project / "Dockerfile").read_text().replace("\\\n", "")
    found = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert found, "the Dockerfile must have an exec-form CMD"
    command: list[str] = json.loads(found.group(1))
    return command


def _command(container: Manifest) -> list[str]:
    return [str(word) for word in [*container.get("command", []), *container.get("args", [])]]


def _prestop_seconds(container: Manifest) -> int:
    pre_stop = container.get("lifecycle", {}).get("preStop")
    assert pre_stop, f"container {container['name']} needs a preStop drain"
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = [str(word) for word in pre_stop["exec"]["command"]]
    assert command[0] in {"sleep", "/bin/sleep"}, command
    assert len(command) == 2, command
    return int(command[1])


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|Ki|M|Mi|G|Gi)?$")
_FACTORS = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "Ki": 2.0**10,
    "M": 1e6,
    "Mi": 2.0**20,
    "G": 1e9,
    "Gi": 2.0**30,
}


def _quantity(value: object) -> float:
    match = _QUANTITY.match(str(value))
    assert match, f"unsupported resource quantity {value!r}"
    return float(match.group(1)) * _FACTORS[match.group(2)]


def _resolved_images(kustomization: Manifest) -> dict[str, str]:
    """Image name in the manifests -> the reference kustomize puts in its place."""
    resolved: dict[str, str] = {}
    for entry in kustomization.get("images", []):
        name = entry.get("newName", entry["name"])
        if "digest" in entry:
            resolved[entry["name"]] = f"{name}@{entry['digest']}"
        elif "newTag" in entry:
            resolved[entry["name"]] = f"{name}:{entry['newTag']}"
        else:
            resolved[entry["name"]] = name
    return resolved


def _image_tag(reference: str) -> str | None:
    """The tag of an image reference (None without one); a digest counts as pinned."""
    if "@sha256:" in reference:
        return "@digest"
    last = reference.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


# The set of files ---------------------------------------------------------------------------


def test_template_files_use_no_jinja_but_the_slug() -> None:
    """Plain YAML plus `{{ project_slug }}`; flat feature blocks may join kustomization.yaml."""
    for path in sorted((TEMPLATE_DIR / "deploy").iterdir()):
        text = path.read_text(encoding="utf-8")
        expressions = set(re.findall(r"\{\{(.*?)\}\}", text, re.S))
        assert expressions <= {" project_slug "}, f"{path.name}: {expressions}"
        tags = re.findall(r"\{%-?\s*(\w+)[^%]*%\}", text)
        if path.name != "kustomization.yaml.jinja":
            assert tags == [], f"{path.name}: Jinja tags {tags}"
        assert set(tags) <= {"if", "endif"}, f"{path.name}: Jinja tags {tags}"


def test_every_manifest_is_a_namespace_agnostic_kubernetes_object(
    manifests: dict[str, list[Manifest]], project: Path
) -> None:
    slug = yaml.safe_load((project / ".copier-answers.yml").read_text())["project_slug"]
    for name, docs in manifests.items():
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), name
            assert doc["metadata"]["name"].startswith(slug), (name, doc["metadata"]["name"])
            assert "namespace" not in doc["metadata"], f"{name}: pick the namespace at apply time"
            labels = doc["metadata"].get("labels", {})
            assert labels.get("app.kubernetes.io/name") == slug, name


def test_kustomization_lists_every_manifest_and_nothing_else(
    deploy: Path, kustomization: Manifest
) -> None:
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources)), "duplicate resources"
    assert "namespace" not in kustomization
    on_disk = {path.name for path in deploy.iterdir() if path.suffix in {".yaml", ".yml"}}
    assert SECRET_EXAMPLE in on_disk
    assert set(resources) == on_disk - {KUSTOMIZATION, SECRET_EXAMPLE}, (
        "kustomization.yaml must list every manifest of deploy/ except the Secret example"
    )
    assert all((deploy / resource).is_file() for resource in resources)


def test_the_expected_kinds_are_there(manifests: dict[str, list[Manifest]]) -> None:
    kinds = {(obj["apiVersion"], obj["kind"]) for obj in _objects(manifests)}
    assert {
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("policy/v1", "PodDisruptionBudget"),
        ("batch/v1", "Job"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("v1", "ConfigMap"),
    } <= kinds
    assert ("v1", "Secret") not in kinds, "real Secrets never live in deploy/"
    assert [obj["kind"] for obj in manifests[SECRET_EXAMPLE]] == ["Secret"]


# The API Deployment -------------------------------------------------------------------------


def test_probes_hit_the_health_endpoints_on_the_container_port(
    manifests: dict[str, list[Manifest]], project: Path
) -> None:
    _, container = _api(manifests)
    router = (project / "app" / "health" / "router.py").read_text()
    assert 'prefix="/health"' in router
    assert re.search(r'@router\.get\(\s*"/live"', router)
    assert re.search(r'@router\.get\(\s*"/ready"', router)

    (port,) = container["ports"]
    assert port["containerPort"] == 8000
    assert "EXPOSE 8000" in (project / "Dockerfile").read_text()
    assert _option(_command(container), "--port") == "8000"

    expected = {"startupProbe": LIVE, "livenessProbe": LIVE, "readinessProbe": READY}
    for probe_name, path in expected.items():
        probe = container[probe_name]["httpGet"]
        assert probe["path"] == path, probe_name
        assert probe["port"] in {port["containerPort"], port.get("name")}, probe_name

    # /health/ready gives each dependency check this long; the probe must wait longer.
    check_timeout = re.search(r"^CHECK_TIMEOUT_SECONDS = ([\d.]+)$", router, re.M)
    assert check_timeout
    assert container["readinessProbe"]["timeoutSeconds"] > float(check_timeout.group(1))


def test_termination_grace_exceeds_prestop_plus_graceful_timeout(
    manifests: dict[str, list[Manifest]],
) -> None:
    deployment, container = _api(manifests)
    graceful = _option(_command(container), "--timeout-graceful-shutdown")
    assert graceful is not None, (
        "without --timeout-graceful-shutdown uvicorn waits for in-flight requests forever"
    )
    pre_stop = _prestop_seconds(container)
    grace = _pod_spec(deployment)["terminationGracePeriodSeconds"]
    assert pre_stop >= 5, "the drain must outlast endpoint propagation"
    assert grace > pre_stop + int(graceful), (grace, pre_stop, graceful)


def test_the_graceful_timeout_covers_the_slowest_statement(
    manifests: dict[str, list[Manifest]], project: Path
) -> None:
    """Catalogue G02: a request still running when the graceful timeout ends is cut off, so
    the timeout must cover the slowest request the app allows: one statement at the
    statement timeout (`.env.example` holds the code's default; the project tests that)."""
    env_example = (project / ".env.example").read_text()
    found = re.search(r"^DATABASE_STATEMENT_TIMEOUT_MS=(\d+)$", env_example, re.M)
    assert found, "DATABASE_STATEMENT_TIMEOUT_MS must be in .env.example"
    slowest_statement = int(found.group(1)) / 1000
    _, container = _api(manifests)
    commands = {"deployment": _command(container), "Dockerfile": _dockerfile_command(project)}
    for source, command in commands.items():
        graceful = _option(command, "--timeout-graceful-shutdown")
        assert graceful is not None, source
        assert int(graceful) >= slowest_statement, (source, graceful, slowest_statement)


def test_the_api_serves_like_the_image(manifests: dict[str, list[Manifest]]) -> None:
    _, container = _api(manifests)
    command = _command(container)
    assert command[:2] == ["uvicorn", "app.main:app"]
    assert "--proxy-headers" in command
    assert _option(command, "--host") == "0.0.0.0"
    assert _option(command, "--forwarded-allow-ips") is None, "it comes from the ConfigMap"


def test_replicas_rollout_disruption_budget_and_autoscaler_agree(
    manifests: dict[str, list[Manifest]],
) -> None:
    deployment, container = _api(manifests)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    service = _one(manifests, "Service")
    assert service["spec"]["selector"] == selector
    port_name = container["ports"][0]["name"]
    assert [port["targetPort"] for port in service["spec"]["ports"]] == [port_name]

    pdb = _one(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    assert pdb["spec"].get("maxUnavailable", 0) >= 1 or pdb["spec"]["minAvailable"] < 2

    hpa = _one(manifests, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert "cpu" in container["resources"]["requests"], "CPU utilisation needs a CPU request"


# Every workload (API, migration Job, later Celery worker and beat) ---------------------------


def test_pods_run_as_the_dockerfile_user_on_a_read_only_root(
    manifests: dict[str, list[Manifest]], project: Path
) -> None:
    uid, gid = _dockerfile_user(project)
    assert uid != 0
    for workload in _workloads(manifests):
        spec = _pod_spec(workload)
        pod_context = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, workload["kind"]
        tmp_volumes = {volume["name"] for volume in spec.get("volumes", []) if "emptyDir" in volume}
        for container in _containers(workload):
            where = f"{workload['kind']}/{container['name']}"
            context = {**pod_context, **container.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser") == uid, where
            if gid is not None:
                assert context.get("runAsGroup") == gid, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in tmp_volumes, f"{where}: /tmp must be an emptyDir"


def test_every_container_has_requests_and_limits(manifests: dict[str, list[Manifest]]) -> None:
    for workload in _workloads(manifests):
        for container in _containers(workload):
            where = f"{workload['kind']}/{container['name']}"
            resources = container.get("resources", {})
            for resource in ("cpu", "memory"):
                request = resources.get("requests", {}).get(resource)
                limit = resources.get("limits", {}).get(resource)
                assert request is not None, f"{where}: {resource} request"
                assert limit is not None, f"{where}: {resource} limit"
                assert _quantity(request) <= _quantity(limit), f"{where}: {resource}"


def test_workloads_take_settings_from_the_configmap_and_the_secret(
    manifests: dict[str, list[Manifest]],
) -> None:
    config = _one(manifests, "ConfigMap")
    secret = _one(manifests, "Secret")
    for workload in _workloads(manifests):
        for container in _pod_spec(workload)["containers"]:
            sources = container["envFrom"]
            assert {"configMapRef": {"name": config["metadata"]["name"]}} in sources
            assert {"secretRef": {"name": secret["metadata"]["name"]}} in sources
            names = {variable["name"] for variable in container.get("env", [])}
            assert not names & {"SECRET_KEY", "DATABASE_URL"}, "secrets only from the Secret"

    data = config["data"]
    assert data["ENVIRONMENT"] == "production"
    assert data["LOG_FORMAT"] == "json"
    trusted = [entry.strip() for entry in data["FORWARDED_ALLOW_IPS"].split(",")]
    assert "*" not in trusted
    for entry in trusted:
        ipaddress.ip_network(entry)  # an address or CIDR, as uvicorn expects
    assert not data.keys() & {"SECRET_KEY", "DATABASE_URL"}
    assert {"SECRET_KEY", "DATABASE_URL"} <= secret["stringData"].keys()


def test_the_migration_job_runs_alembic_before_the_rollout(
    manifests: dict[str, list[Manifest]], kustomization: Manifest
) -> None:
    job = _one(manifests, "Job")
    (container,) = _pod_spec(job)["containers"]
    assert _command(container) == ["alembic", "upgrade", "heads"]
    assert _pod_spec(job)["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 0
    assert job["spec"]["activeDeadlineSeconds"] > 0
    _, api = _api(manifests)
    assert container["image"] == api["image"], "the Job migrates with the app's image"
    assert container["image"] in _resolved_images(kustomization)


def test_images_are_pinned_never_latest(
    manifests: dict[str, list[Manifest]], deploy: Path, kustomization: Manifest
) -> None:
    resolved = _resolved_images(kustomization)
    for workload in _workloads(manifests):
        for container in _containers(workload):
            image = str(container["image"])
            reference = resolved.get(image, image)
            tag = _image_tag(reference)
            assert tag is not None, f"{reference}: no tag means latest"
            assert tag != "latest", reference
    assert "@sha256:" in (deploy / KUSTOMIZATION).read_text(), (
        "kustomization.yaml should show how to pin the image by digest"
    )


def test_the_secret_example_holds_placeholders_only(
    manifests: dict[str, list[Manifest]], deploy: Path, project: Path
) -> None:
    secret = _one(manifests, "Secret")
    assert "data" not in secret, "base64 data hides what is in it; use stringData"
    config = (project / "app" / "core" / "config.py").read_text()
    found = re.search(r"^PLACEHOLDER_MARKERS = (\(.*?\))$", config, re.M)
    assert found, "app/core/config.py must define PLACEHOLDER_MARKERS"
    markers = ast.literal_eval(found.group(1))
    for key, value in secret["stringData"].items():
        assert PLACEHOLDER in value, f"{key} must be an obvious placeholder"
    # The production guard refuses the placeholder: it must never start a real deployment.
    assert any(marker in secret["stringData"]["SECRET_KEY"].lower() for marker in markers)
    for path in deploy.iterdir():
        assert not HEX_64.search(path.read_text()), f"{path.name} holds a 64-hex value"


# Tools ---------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
def test_kustomize_builds_the_directory(deploy: Path, kustomization: Manifest) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(deploy)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(built) == sum(len(_documents(deploy / r)) for r in kustomization["resources"])
    images = {
        container["image"]
        for doc in built
        if doc["kind"] in WORKLOAD_KINDS
        for container in _containers(doc)
    }
    assert images == set(_resolved_images(kustomization).values())


def test_bandit_finds_no_medium_or_high_issues(project: Path) -> None:
    assert BANDIT.is_file(), "bandit comes with the `lint` dependency group (uv sync)"
    result = subprocess.run(
        [str(BANDIT), "-r", "app", "-ll", "-f", "json", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    findings = [
        f"{issue['filename']}:{issue['line_number']} {issue['test_id']} {issue['issue_text']}"
        for issue in report["results"]
        if issue["issue_severity"] in {"MEDIUM", "HIGH"}
    ]
    assert findings == []
    assert report["errors"] == []
    assert result.returncode == 0, result.stderr


def test_ci_and_make_run_the_same_pinned_scanners(project: Path) -> None:
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    job = workflow["jobs"]["security"]
    assert job["permissions"] == {"contents": "read"}
    makefile = (project / "Makefile").read_text()
    assert re.search(r"^security:.*## ", makefile, re.M), "`make help` must list security"
    for variable in ("BANDIT", "SEMGREP", "PIP_AUDIT"):
        pinned = re.search(rf"^{variable} \?= (\S+==\S+)$", makefile, re.M)
        assert pinned, f"Makefile must pin {variable}"
        assert job["env"][variable] == pinned.group(1), variable
    steps = " ".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])
    assert "gitleaks" in job["env"]["GITLEAKS_IMAGE"]
    assert job["env"]["SEMGREP"] == checks.SEMGREP, "the matrix runs the pinned semgrep too"
    needles = (
        '"$BANDIT" -r app -ll',
        '"$SEMGREP" scan --config .semgrep.yml --error',
        '"$PIP_AUDIT" --strict',
        '"$GITLEAKS_IMAGE"',
    )
    for needle in needles:
        assert needle in steps, needle


# Celery worker and beat ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def celery_manifests(render: Render) -> dict[str, list[Manifest]]:
    deploy = render(celery=True) / "deploy"
    return {
        path.name: _documents(path)
        for path in sorted(deploy.glob("*.y*ml"))
        if path.name != KUSTOMIZATION
    }


def _celery_default(project: Path, name: str) -> int:
    """A default of app/worker/config.py (WorkerSettings), read from the source."""
    source = (project / "app" / "worker" / "config.py").read_text()
    match = re.search(rf"^    {name}: int = Field\(default=(\d+)", source, re.M)
    assert match, f"WorkerSettings.{name} has no integer default"
    return int(match.group(1))


def test_celery_off_has_no_worker_or_beat(render: Render) -> None:
    deploy = render() / "deploy"
    assert not (deploy / "worker.yaml").exists()
    assert not (deploy / "beat.yaml").exists()


def test_worker_runs_the_app_image_and_finishes_tasks_on_shutdown(
    render: Render, celery_manifests: dict[str, list[Manifest]]
) -> None:
    worker = _deployment(celery_manifests, "worker")
    (container,) = _pod_spec(worker)["containers"]
    _, api = _api(celery_manifests)
    assert container["image"] == api["image"]
    assert _command(container)[:4] == ["celery", "-A", "app.worker.celery_app:celery_app", "worker"]
    # Warm shutdown: the grace period outlasts the hard time limit of a running task.
    time_limit = _celery_default(render(celery=True), "time_limit")
    assert _pod_spec(worker)["terminationGracePeriodSeconds"] > time_limit
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # Liveness through the broker (a worker can stay up yet stop consuming).
    probe = " ".join(container["livenessProbe"]["exec"]["command"])
    assert "inspect ping" in probe
    assert "$HOSTNAME" in probe


def test_exactly_one_beat(celery_manifests: dict[str, list[Manifest]]) -> None:
    beat = _deployment(celery_manifests, "beat")
    (container,) = _pod_spec(beat)["containers"]
    assert _command(container)[:4] == ["celery", "-A", "app.worker.celery_app:celery_app", "beat"]
    assert beat["spec"]["replicas"] == 1
    # A rolling update would run the old and the new beat side by side for a while.
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    autoscaled = {
        obj["spec"]["scaleTargetRef"]["name"]
        for obj in _objects(celery_manifests)
        if obj["kind"] == "HorizontalPodAutoscaler"
    }
    assert beat["metadata"]["name"] not in autoscaled


def test_celery_files_go_to_the_writable_tmp(celery_manifests: dict[str, list[Manifest]]) -> None:
    for component in ("worker", "beat"):
        (container,) = _pod_spec(_deployment(celery_manifests, component))["containers"]
        env = {variable["name"]: variable.get("value") for variable in container.get("env", [])}
        assert str(env["CELERY_LOCAL_DIR"]).startswith("/tmp/"), component
