"""What every CI provider's pipeline shares: the effective stages, the policy gate that no
deploy can skip, the command each stage runs and the secrets a deploy needs (by name).

The gate is enforced here, once, so that Zuul, GitHub and GitLab cannot disagree about it:
a pipeline that deploys always runs ``attonix check`` first. When the blueprint's stages leave
the gate out, it is inserted before the first of render/plan/deploy; when they list deploy
*before* check, the author asked for something the gate forbids, and rendering refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

from attonix import __version__
from attonix.blueprint.model import Blueprint, Pipeline, Secret, secret_env_var
from attonix.render.base import RenderError

#: Attonix itself, as every provider installs it on its runners: the version that rendered.
ATTONIX_REQUIREMENT = f"attonix=={__version__}"
#: Where a build records the images it built (``name@sha256:...`` once pushed).
DIGESTS_FILE = "image-digests.txt"
#: Registry login for pushes (CI secrets of these names; never in the file).
REGISTRY_ENV = ("ATTONIX_REGISTRY_USER", "ATTONIX_REGISTRY_PASSWORD")
#: The cluster credentials a deploy to each target reads from the CI system's secret store.
CLUSTER_ENV: dict[str, tuple[str, ...]] = {
    "kubernetes": ("ATTONIX_KUBECONFIG",),
    "swarm": (
        "ATTONIX_DOCKER_HOST",
        "ATTONIX_DOCKER_CA",
        "ATTONIX_DOCKER_CERT",
        "ATTONIX_DOCKER_KEY",
    ),
    "podman": ("ATTONIX_CONTAINER_HOST", "ATTONIX_PODMAN_SSH_KEY"),
}

#: The blueprint file the rendered pipelines read, relative to the repository root.
BLUEPRINT_FILE = "datacenter.yaml"
#: Where the policy gate writes its SARIF report.
SARIF_FILE = "attonix.sarif"
#: Where rendered artifacts are written inside a CI workspace.
RENDER_DIR = "rendered"
#: The name of the policy gate job in every provider.
GATE_JOB = "attonix-check"
#: The stages that act on the blueprint's live targets and so must follow the gate.
_AFTER_GATE = ("render", "plan", "deploy")
#: Cluster kinds whose services a pipeline deploys map to these render/deploy targets.
_KIND_TARGET = {"kubernetes": "kubernetes", "swarm": "swarm", "podman": "podman"}


@dataclass(frozen=True, slots=True)
class Stage:
    """One job of a pipeline: its stage, its globally unique job name, its commands and the
    stages it waits for (providers name jobs their own way, so ``needs`` holds stage names)."""

    stage: str
    job: str
    commands: tuple[str, ...]
    needs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EffectivePipeline:
    """A pipeline after the gate rules: ordered stages, deploy targets and secret names."""

    pipeline: Pipeline
    index: int
    stages: tuple[Stage, ...]
    targets: tuple[str, ...]
    secret_env: tuple[str, ...]
    gate_inserted: bool

    @property
    def credential_env(self) -> tuple[str, ...]:
        """The cluster credentials the deploy job reads, by variable name."""
        return tuple(v for t in self.targets for v in CLUSTER_ENV.get(t, ()))

    @property
    def deploys(self) -> bool:
        """True when the pipeline has a deploy job."""
        return any(s.stage == "deploy" for s in self.stages)

    def job(self, stage: str) -> Stage | None:
        """The job of ``stage``, if the pipeline has one."""
        return next((s for s in self.stages if s.stage == stage), None)


def stage_order(bp: Blueprint, index: int) -> tuple[list[str], bool]:
    """The stages of ``cicd.pipelines[index]`` with the gate enforced, and whether it was added.

    Raises :class:`RenderError` naming the pipeline when its stages deploy before the gate.
    """
    p = bp.cicd.pipelines[index]
    stages: list[str] = list(dict.fromkeys(p.stages))
    where = f"cicd.pipelines[{index}].stages"
    if "deploy" not in stages:
        return stages, False
    if "check" in stages:
        if stages.index("check") > stages.index("deploy"):
            raise RenderError(
                f"{where}: pipeline {p.name!r} lists 'deploy' before the policy gate 'check'",
                hint="Move 'check' before 'deploy': nothing may deploy before `attonix check`.",
            )
        return stages, False
    first_after = min(stages.index(s) for s in _AFTER_GATE if s in stages)
    stages.insert(first_after, "check")
    return stages, True


def deploy_targets(bp: Blueprint, pipeline: Pipeline) -> tuple[str, ...]:
    """The live targets a pipeline deploys: its services' cluster kinds, else every cluster's."""
    clusters = bp.clusters_by_name
    if pipeline.services:
        kinds = {
            clusters[w.cluster].kind
            for name in pipeline.services
            if (w := bp.workloads_by_name.get(name)) is not None and w.cluster in clusters
        }
    else:
        kinds = {c.kind for c in bp.orchestration.clusters}
    return tuple(sorted(_KIND_TARGET[k] for k in kinds))


def deploy_secrets(bp: Blueprint, pipeline: Pipeline) -> tuple[str, ...]:
    """Names of the secrets a deploy of ``pipeline`` needs: its services' mounts and databases.

    A pipeline without services deploys the whole blueprint and so needs every declared secret.
    """
    if not pipeline.services:
        return tuple(sorted(bp.secrets_by_name))
    names: set[str] = set()
    for service in pipeline.services:
        w = bp.workloads_by_name.get(service)
        if w is None:
            continue
        names.update(m.secret for m in w.secrets)
        for db in getattr(w, "databases", []):
            if (d := bp.databases_by_name.get(db)) is not None:
                names.add(d.credentials_secret)
    return tuple(sorted(n for n in names if n in bp.secrets_by_name))


def effective(bp: Blueprint, index: int) -> EffectivePipeline:
    """The pipeline ``cicd.pipelines[index]`` as every provider renders it."""
    p = bp.cicd.pipelines[index]
    order, inserted = stage_order(bp, index)
    targets = deploy_targets(bp, p)
    secret_names = deploy_secrets(bp, p)
    secret_env = tuple(
        env for name in secret_names for env in secret_env_names(bp.secrets_by_name[name])
    )
    jobs: list[Stage] = []
    for i, stage in enumerate(order):
        needs = [order[i - 1]] if i else []
        if stage == "deploy":
            # The gate is a direct dependency too: it holds even if a provider ignores
            # transitive needs or a stage between them is later marked optional.
            needs += [s for s in ("check", "render", "plan") if s in order[:i]]
        jobs.append(
            Stage(
                stage=stage,
                job=job_name(p, stage),
                commands=commands(stage, pipeline=p, targets=targets, bp=bp),
                needs=tuple(dict.fromkeys(needs)),
            )
        )
    return EffectivePipeline(
        pipeline=p,
        index=index,
        stages=tuple(jobs),
        targets=targets,
        secret_env=secret_env,
        gate_inserted=inserted,
    )


def secret_env_names(secret: Secret) -> tuple[str, ...]:
    """The variables holding ``secret``'s keys, as the CLI's environment secret source reads."""
    return tuple(secret_env_var(secret.name, k) for k in secret.keys)


def job_name(p: Pipeline, stage: str) -> str:
    """The globally unique job name of ``stage`` (the gate is shared: ``attonix-check``)."""
    return GATE_JOB if stage == "check" else f"{p.name}-{stage}"


def commands(
    stage: str, *, pipeline: Pipeline, targets: tuple[str, ...], bp: Blueprint
) -> tuple[str, ...]:
    """The shell commands of one stage (the same in every provider)."""
    bpf = BLUEPRINT_FILE
    images = [bp.workloads_by_name[n].image for n in pipeline.services if n in bp.workloads_by_name]
    if stage == "lint":
        return (f"attonix validate {bpf}", "make lint")
    if stage == "test":
        return ("make test",)
    if stage == "build":
        return build_commands(images) if images else ("make build",)
    if stage == "scan":
        return scan_commands() if images else ("make scan",)
    if stage == "check":
        return (
            f"attonix check {bpf} --fail-on medium -o sarif --output-file {SARIF_FILE}",
            *_render_commands(targets),
        )
    if stage == "render":
        return _render_commands(targets)
    if stage == "plan":
        return tuple(f"attonix plan {bpf} --target {t}" for t in targets)
    if stage == "deploy":
        return (deploy_script(targets),)
    raise RenderError(f"unknown CI stage {stage!r}", hint="This is a renderer bug; report it.")


def _render_commands(targets: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        f"attonix render {BLUEPRINT_FILE} --target {t} --output-dir {RENDER_DIR}/{t}"
        for t in targets
    ) or (f"attonix validate {BLUEPRINT_FILE}",)


def _registry(image: str) -> str | None:
    first = image.split("/", 1)[0]
    return first if "/" in image and ("." in first or ":" in first) else None


def _repository(image: str) -> str:
    # Drop the tag (after the last ':' of the last path segment), keep any registry port.
    head, _, last = image.rpartition("/")
    name = last.split("@", 1)[0].split(":", 1)[0]
    return f"{head}/{name}" if head else name


def build_commands(images: list[str]) -> tuple[str, ...]:
    """Build each service's image; when ``ATTONIX_PUSH`` is ``true`` (the deploy branch) push
    it to the blueprint's registry and record it by digest, else record the local tag."""
    out = [f": > {DIGESTS_FILE}"]
    user, password = REGISTRY_ENV
    for registry in sorted({r for i in images if (r := _registry(i)) is not None}):
        out.append(
            f'if [ "${{ATTONIX_PUSH:-false}}" = true ]; then printf %s "${password}" | '
            f'docker login {registry} -u "${user}" --password-stdin; fi'
        )
    for image in images:
        out += [
            f"docker build --pull -t {image} .",
            f'if [ "${{ATTONIX_PUSH:-false}}" = true ]; then '
            f"digest=\"$(docker push {image} | awk '/digest: sha256:/ {{print $3}}')\"; "
            f'test -n "$digest"; echo "{_repository(image)}@$digest" >> {DIGESTS_FILE}; '
            f"else echo {image} >> {DIGESTS_FILE}; fi",
        ]
    return tuple(out)


def scan_commands() -> tuple[str, ...]:
    """Scan every image the build recorded (by digest once pushed); HIGH or CRITICAL fails."""
    return (
        f"test -s {DIGESTS_FILE}",
        "while read -r ref; do trivy image --exit-code 1 --severity HIGH,CRITICAL "
        f'--ignore-unfixed "$ref"; done < {DIGESTS_FILE}',
    )


def deploy_script(targets: tuple[str, ...]) -> str:
    """One shell script: write the cluster credentials from the CI secret store into files only
    this job can read (removed on exit), point the engines' clients at them, apply."""
    lines = [
        "set -eu",
        "umask 077",
        'creds="$(mktemp -d)"',
        "trap 'rm -rf \"$creds\"' EXIT",
    ]
    if "kubernetes" in targets:
        lines += [
            'printf %s "$ATTONIX_KUBECONFIG" > "$creds/kubeconfig"',
            'export KUBECONFIG="$creds/kubeconfig"',
        ]
    if "swarm" in targets:
        lines += [
            'printf %s "$ATTONIX_DOCKER_CA" > "$creds/ca.pem"',
            'printf %s "$ATTONIX_DOCKER_CERT" > "$creds/cert.pem"',
            'printf %s "$ATTONIX_DOCKER_KEY" > "$creds/key.pem"',
            'export DOCKER_HOST="$ATTONIX_DOCKER_HOST" DOCKER_TLS_VERIFY=1',
            'export DOCKER_CERT_PATH="$creds"',
        ]
    if "podman" in targets:
        lines += [
            'printf %s "$ATTONIX_PODMAN_SSH_KEY" > "$creds/id"',
            'export CONTAINER_HOST="$ATTONIX_CONTAINER_HOST" CONTAINER_SSHKEY="$creds/id"',
        ]
    lines += [f"attonix apply {BLUEPRINT_FILE} --target {t} --yes" for t in targets]
    return "\n".join(lines) + "\n"
