"""Every kustomize target renders, and every object it renders is valid against its schema:
Kubernetes' own (the kubernetes-validate package's strict schemas: unknown fields fail) for the
built-in kinds, and the operators' CRDs (scripts/deploy-tools.sh) for KEDA, prometheus-operator
and Strimzi objects. An object of a kind with no schema fails the test."""

from __future__ import annotations

import functools
import re

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy.support import K8S, OVERLAYS, TARGETS, crd_schemas, ident, kustomizations, render

# The oldest Kubernetes minor the manifests support (every API they use is GA there: policy/v1,
# autoscaling/v2, networking/v1) and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version().rsplit(".", 1)[0])
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@functools.cache
def _crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    return {key: jsonschema.Draft202012Validator(schema) for key, schema in crd_schemas().items()}


def _is_builtin(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return group == "" or "." not in group or group.endswith(".k8s.io")


@pytest.mark.parametrize("target", TARGETS)
def test_target_renders_objects_with_valid_names(target: str) -> None:
    objects = render(target)
    assert objects, f"deploy/k8s/{target} renders nothing"
    seen = set()
    for obj in objects:
        name = obj["metadata"]["name"]
        assert len(name) <= 253 and DNS_SUBDOMAIN.match(name), f"{ident(obj)}: not a valid object name"
        assert ident(obj) not in seen, f"{ident(obj)} rendered twice"
        seen.add(ident(obj))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_builtin_objects_match_the_kubernetes_schemas(target: str, version: str) -> None:
    problems = []
    for obj in render(target):
        if not _is_builtin(obj["apiVersion"]):
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.utils.SchemaNotFoundError:
            problems.append(f"{ident(obj)}: Kubernetes {version} has no {obj['apiVersion']} {obj['kind']}")
        except kubernetes_validate.utils.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path)
            problems.append(f"{ident(obj)} at {where or '/'}: {exc.message}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("target", TARGETS)
def test_custom_resources_match_their_crds(target: str) -> None:
    validators = _crd_validators()
    problems = []
    for obj in render(target):
        if _is_builtin(obj["apiVersion"]):
            continue
        validator = validators.get((obj["apiVersion"], obj["kind"]))
        if validator is None:
            problems.append(f"{ident(obj)}: no CRD for {obj['apiVersion']} {obj['kind']} (have {sorted(validators)})")
            continue
        for error in validator.iter_errors(obj):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{ident(obj)} at {where or '/'}: {error.message}")
    assert not problems, "\n".join(problems)


def test_the_crd_schemas_refuse_an_unknown_field() -> None:
    """The CRD validation is live: a misspelt field of a ScaledObject is caught."""
    scaled = next(o for o in render("overlays/prod") if o["kind"] == "ScaledObject")
    broken = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}}
    validator = _crd_validators()[(scaled["apiVersion"], scaled["kind"])]
    assert any("maxReplicas" in e.message for e in validator.iter_errors(broken))


def test_every_kustomization_is_rendered_through_an_overlay() -> None:
    """A component or folder that no overlay reaches would never be validated here."""
    by_folder = {folder.resolve(): k for folder, k in kustomizations()}
    reached: set = set()
    frontier = [(K8S / o).resolve() for o in OVERLAYS]
    while frontier:
        folder = frontier.pop()
        if folder in reached:
            continue
        reached.add(folder)
        entries = by_folder.get(folder, {})
        frontier += [
            (folder / e).resolve() for e in entries.get("resources", []) + entries.get("components", []) if (folder / e).is_dir()
        ]
    missed = sorted(str(f.relative_to(K8S)) for f in set(by_folder) - reached)
    assert not missed, f"not reached from {OVERLAYS}: {missed}"
