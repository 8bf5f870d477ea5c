"""Zuul: the tenant (``zuul/main.yaml``) and the config project it reads (``zuul/zuul.d/*`` and
``zuul/playbooks/*``).

Every stage is a job; ``check`` and ``gate`` run the stages that do not touch live systems,
``post`` builds after merge, ``deploy`` (a ``serial`` pipeline: one deploy at a time per
project) runs the policy gate again and then deploys — the deploy job's own ``dependencies``
name the gate, and the job is ``final`` so no project variant can drop them. Secrets are Zuul
secrets with the blueprint's secret names, defined (encrypted) by operators in this config
project; the jobs refer to them by name only.
"""

from __future__ import annotations

import base64
from typing import Any

from attonix.blueprint.model import Blueprint, Pipeline
from attonix.render.base import Artifact
from attonix.render.cicd._stages import (
    ATTONIX_REQUIREMENT,
    BLUEPRINT_FILE,
    GATE_JOB,
    RENDER_DIR,
    SARIF_FILE,
    EffectivePipeline,
    deploy_secrets,
    secret_env_names,
)

BASE_JOB = "attonix-base"
#: Where the standard Zuul roles come from: a git connection to opendev.org, which the Zuul
#: deployment must define under this name.
ZUUL_JOBS_CONNECTION = "opendev"
ZUUL_JOBS = "zuul/zuul-jobs"
NODESET = "attonix-default"
#: Stages that run before merge (check, gate) — everything that does not touch live systems.
_PRE_MERGE = ("lint", "test", "build", "scan", "check", "render", "plan")
_RECHECK = r"(?i)^\s*recheck\s*$"


def sources(bp: Blueprint) -> list[str]:
    """The connections (``github``, ``gitlab``) the tenant reads projects from."""
    used: set[str] = {p.source for p in bp.cicd.pipelines if p.provider == "zuul"}
    if not used:
        used = {n for n, v in (("github", bp.cicd.github), ("gitlab", bp.cicd.gitlab)) if v}
    return sorted(used)


def config_project(bp: Blueprint) -> tuple[str, str]:
    """(connection, name) of the config project holding ``zuul.d``: ``<org>/zuul-config``."""
    c = bp.cicd
    if c.github is not None and (c.gitlab is None or "github" in sources(bp)):
        return "github", f"{c.github.organization}/zuul-config"
    if c.gitlab is not None:
        return "gitlab", f"{c.gitlab.group}/zuul-config"
    return "github", f"{bp.metadata.name}/zuul-config"


def tenant(bp: Blueprint, pipelines: list[EffectivePipeline]) -> list[dict[str, Any]]:
    """``main.yaml``: the tenant with its config project and untrusted projects per source."""
    assert bp.cicd.zuul is not None
    conn, cfg = config_project(bp)
    source: dict[str, dict[str, list[Any]]] = {}
    for name in sorted({*sources(bp), conn}):
        entry: dict[str, list[Any]] = {}
        if name == conn:
            entry["config-projects"] = [cfg]
        repos = sorted({e.pipeline.repository for e in pipelines if e.pipeline.source == name})
        if repos:
            entry["untrusted-projects"] = repos
        source[name] = entry
    # The jobs use zuul-jobs' roles (prepare-workspace, ensure-pip, fetch-output): the project
    # must be in the tenant; none of its own jobs or pipelines are loaded.
    source[ZUUL_JOBS_CONNECTION] = {"untrusted-projects": [{ZUUL_JOBS: {"include": []}}]}
    return [{"tenant": {"name": bp.cicd.zuul.tenant, "source": source}}]


def _triggers(conns: list[str], kind: str, branches: list[str]) -> dict[str, Any]:
    refs = [f"^refs/heads/{b}$" for b in branches]
    table: dict[str, dict[str, Any]] = {
        "check": {
            "github": [
                {"event": "pull_request", "action": ["opened", "changed", "reopened"]},
                {"event": "pull_request", "action": "comment", "comment": _RECHECK},
            ],
            "gitlab": [
                {"event": "gl_merge_request", "action": ["opened", "changed"]},
                {"event": "gl_merge_request", "action": "comment", "comment": _RECHECK},
            ],
        },
        "gate": {
            "github": [
                {"event": "pull_request_review", "action": "submitted", "state": "approved"}
            ],
            "gitlab": [{"event": "gl_merge_request", "action": "approved"}],
        },
        "post": {
            "github": [{"event": "push", "ref": refs}],
            "gitlab": [{"event": "gl_push", "ref": refs}],
        },
        "deploy": {
            "github": [{"event": "push", "ref": refs}],
            "gitlab": [{"event": "gl_push", "ref": refs}],
        },
    }
    return {c: table[kind][c] for c in conns}


def _gate_require(conns: list[str], tenant: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in conns:
        if c == "github":
            out[c] = {
                "open": True,
                "current-patchset": True,
                "review": [{"type": "approved", "permission": "write"}],
                # Zuul reports check as the status context '<tenant>/check'.
                "status": [f".*:{tenant}/check:success"],
            }
        else:
            # Zuul approves the merge request when check passes (its report's approval).
            out[c] = {"open": True, "approved": True}
    return out


def _report(conns: list[str], outcome: str, *, merge: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in conns:
        if c == "github":
            out[c] = {"status": outcome, **({"merge": True} if merge else {})}
        else:
            out[c] = {"comment": True, **({"merge": True} if merge else {})}
            if outcome != "pending":
                out[c]["approval"] = outcome == "success"
    return out


def pipeline_stanzas(bp: Blueprint) -> list[dict[str, Any]]:
    """``pipelines.yaml``: one pipeline per ``cicd.zuul.pipelines`` entry."""
    assert bp.cicd.zuul is not None
    conns = sources(bp)
    branches = sorted({b for p in bp.cicd.pipelines if p.provider == "zuul" for b in p.branches})
    deploy_branches = ["main"] if "main" in branches or not branches else branches[:1]
    out: list[dict[str, Any]] = []
    for name in dict.fromkeys(bp.cicd.zuul.pipelines):
        if name == "periodic":
            out.append(
                {
                    "pipeline": {
                        "name": "periodic",
                        "description": "Runs the policy gate daily, so new rules and expiring "
                        "exceptions are noticed without a change.",
                        "manager": "independent",
                        "post-review": True,
                        "precedence": "low",
                        "trigger": {"timer": [{"time": "0 3 * * *"}]},
                    }
                }
            )
            continue
        stanza: dict[str, Any] = {"name": name}
        if name == "check":
            stanza |= {
                "description": "Newly uploaded changes; reports the result to the change.",
                "manager": "independent",
                "trigger": _triggers(conns, "check", branches),
                "start": _report(conns, "pending"),
                "success": _report(conns, "success"),
                "failure": _report(conns, "failure"),
            }
        elif name == "gate":
            stanza |= {
                "description": "Approved changes, tested together in order, then merged.",
                "manager": "dependent",
                "precedence": "high",
                "supercedes": ["check"] if "check" in bp.cicd.zuul.pipelines else [],
                "trigger": _triggers(conns, "gate", branches),
                "start": _report(conns, "pending"),
                "success": _report(conns, "success", merge=True),
                "failure": _report(conns, "failure"),
            }
            if not stanza["supercedes"]:
                del stanza["supercedes"]
            # Merge only what a reviewer with write access approved and what passed check.
            stanza["require"] = _gate_require(conns, bp.cicd.zuul.tenant)
        elif name == "post":
            stanza |= {
                "description": "Merged changes: builds and publishes.",
                "manager": "supercedent",
                "post-review": True,
                "precedence": "low",
                "trigger": _triggers(conns, "post", branches),
            }
        else:
            stanza |= {
                "description": "Merged changes to the deploy branch: policy gate, then deploy. "
                "Serial: one deploy at a time per project.",
                "manager": "serial",
                "post-review": True,
                "precedence": "high",
                "trigger": _triggers(conns, "deploy", deploy_branches),
            }
        out.append({"pipeline": stanza})
    return out


def _secret_var(name: str) -> str:
    return "attonix_secret_" + name.replace("-", "_")


def job_stanzas(bp: Blueprint, pipelines: list[EffectivePipeline]) -> list[dict[str, Any]]:
    """``jobs.yaml``: the base job, the shared policy gate and one job per pipeline stage."""
    out: list[dict[str, Any]] = [
        {
            "job": {
                "name": BASE_JOB,
                "parent": None,
                "abstract": True,
                "description": "Base of every Attonix job: prepares the workspace, installs "
                "Attonix, collects logs.",
                "nodeset": NODESET,
                "timeout": 1800,
                "roles": [{"zuul": "zuul/zuul-jobs"}],
                "pre-run": "playbooks/attonix-pre.yaml",
                "post-run": "playbooks/attonix-post.yaml",
            }
        },
        {
            "job": {
                "name": GATE_JOB,
                "parent": BASE_JOB,
                "final": True,
                "description": "The Attonix policy gate: `attonix check --fail-on medium` "
                "(SARIF report) and `attonix render`. Every deploy depends on it.",
                "run": "playbooks/attonix-check.yaml",
            }
        },
    ]
    for eff in pipelines:
        for st in eff.stages:
            if st.stage == "check":
                continue
            job: dict[str, Any] = {
                "name": st.job,
                "parent": BASE_JOB,
                "description": f"{st.stage} for {eff.pipeline.repository}",
                "run": "playbooks/attonix-run.yaml",
                "vars": {"attonix_commands": list(st.commands)},
            }
            if st.stage == "scan":
                # A job has its own node: the scan builds the change's image, then scans it.
                build = eff.job("build")
                if build is not None:
                    job["vars"]["attonix_commands"] = [*build.commands, *st.commands]
            if st.stage == "deploy":
                extra = _deploy_job(bp, eff, st.needs)
                job["vars"] |= extra.pop("vars", {})
                job |= extra
            out.append({"job": job})
    return out


def _deploy_job(bp: Blueprint, eff: EffectivePipeline, needs: tuple[str, ...]) -> dict[str, Any]:
    names = list(deploy_secrets(bp, eff.pipeline))
    env = {
        var: "{{ " + _secret_var(n) + "." + key + " }}"
        for n in names
        for var, key in zip(
            secret_env_names(bp.secrets_by_name[n]), bp.secrets_by_name[n].keys, strict=True
        )
    }
    job: dict[str, Any] = {
        "final": True,
        "allowed-projects": [eff.pipeline.repository],
        "dependencies": [GATE_JOB if n == "check" else f"{eff.pipeline.name}-{n}" for n in needs],
        # One deploy per environment at a time, across every project of the tenant.
        "semaphores": [semaphore_name(bp, eff.pipeline)],
    }
    secrets = [{"name": _secret_var(n), "secret": n} for n in names]
    if eff.credential_env:
        # The cluster credentials: a Zuul secret per environment, one field per variable.
        cred = credentials_secret(bp, eff.pipeline)
        secrets.append({"name": _secret_var(cred), "secret": cred})
        env |= {v: "{{ " + _secret_var(cred) + "." + v.lower() + " }}" for v in eff.credential_env}
    if secrets:
        job["secrets"] = secrets
        job["vars"] = {"attonix_secret_env": env}
    return job


def credentials_secret(bp: Blueprint, p: Pipeline) -> str:
    """The Zuul secret holding the cluster credentials of ``p``'s deploy environment."""
    return f"attonix-cluster-{p.deploy_environment or bp.metadata.environment}"


def declared_secrets(bp: Blueprint, pipelines: list[EffectivePipeline]) -> dict[str, list[str]]:
    """Every Zuul secret the jobs reference -> its fields, in a stable order."""
    out: dict[str, list[str]] = {}
    for eff in pipelines:
        if not eff.deploys:
            continue
        for n in deploy_secrets(bp, eff.pipeline):
            out[n] = list(bp.secrets_by_name[n].keys)
        if eff.credential_env:
            fields = out.setdefault(credentials_secret(bp, eff.pipeline), [])
            fields += [v.lower() for v in eff.credential_env if v.lower() not in fields]
    return dict(sorted(out.items()))


def secrets_text(bp: Blueprint, pipelines: list[EffectivePipeline]) -> str:
    """``secrets.yaml``: one stanza per referenced secret, each field a placeholder the
    operator replaces with ``zuul-client encrypt`` output (never a value here)."""
    assert bp.cicd.zuul is not None
    project = config_project(bp)[1]
    lines = [
        "# Managed by attonix: every secret the jobs reference. Each field holds a placeholder",
        "# that Zuul cannot decrypt: replace it with the PKCS#1-OAEP ciphertext of its value:",
        f"#   zuul-client encrypt --tenant {bp.cicd.zuul.tenant} --project {project} \\",
        "#     --secret-name NAME --field-name FIELD --infile VALUE_FILE",
        "# and commit the result to this config project. Values never pass through Attonix.",
    ]
    for name, fields in declared_secrets(bp, pipelines).items():
        lines += ["- secret:", f"    name: {name}", "    data:"]
        for field in fields:
            # Base64 (so Zuul's loader parses the file) of a note, never of a value: Zuul's
            # decryption fails on it until the operator puts the real ciphertext here.
            note = base64.b64encode(f"attonix placeholder for {name}.{field}".encode()).decode()
            lines += [
                f"      # REPLACE: --secret-name {name} --field-name {field}",
                f"      {field}: !encrypted/pkcs1-oaep",
                f"        - {note}",
            ]
    return "\n".join(lines) + "\n"


def semaphore_name(bp: Blueprint, p: Pipeline) -> str:
    """The semaphore serialising deploys to ``p``'s environment."""
    return f"attonix-deploy-{p.deploy_environment or bp.metadata.environment}"


def semaphore_stanzas(bp: Blueprint, pipelines: list[EffectivePipeline]) -> list[dict[str, Any]]:
    """``semaphores.yaml``: one single-holder semaphore per environment deployed to."""
    names = sorted({semaphore_name(bp, e.pipeline) for e in pipelines if e.deploys})
    return [{"semaphore": {"name": n, "max": 1}} for n in names]


def project_stanzas(bp: Blueprint, pipelines: list[EffectivePipeline]) -> list[dict[str, Any]]:
    """``projects.yaml``: which jobs each repository runs in each Zuul pipeline."""
    assert bp.cicd.zuul is not None
    zp = list(dict.fromkeys(bp.cicd.zuul.pipelines))
    out: list[dict[str, Any]] = []
    for eff in pipelines:
        stanza: dict[str, Any] = {
            "name": eff.pipeline.repository,
            "vars": {"attonix_targets": list(eff.targets)},
        }
        pre = [s for s in eff.stages if s.stage in _PRE_MERGE]
        for name in zp:
            if name in ("check", "gate"):
                chosen = pre
            elif name == "post":
                chosen = [s for s in eff.stages if s.stage == "build"]
            elif name == "deploy":
                chosen = list(eff.stages) if eff.deploys else []
            else:
                chosen = [s for s in eff.stages if s.stage == "check"]
            if not chosen:
                continue
            included = {s.stage for s in chosen}
            jobs: list[Any] = []
            for s in chosen:
                deps = [
                    GATE_JOB if n == "check" else f"{eff.pipeline.name}-{n}"
                    for n in s.needs
                    if n in included
                ]
                # The deploy job carries its dependencies itself (final); others get them here.
                if deps and s.stage != "deploy":
                    jobs.append({s.job: {"dependencies": deps}})
                else:
                    jobs.append(s.job)
            stanza[name] = {"jobs": jobs}
        out.append({"project": stanza})
    return out


def nodeset_stanzas(bp: Blueprint) -> list[dict[str, Any]]:
    """``nodesets.yaml``: the one node every Attonix job runs on."""
    assert bp.cicd.zuul is not None
    return [
        {
            "nodeset": {
                "name": NODESET,
                "nodes": [{"name": "ubuntu", "label": bp.cicd.zuul.nodeset_label}],
            }
        }
    ]


def playbooks() -> dict[str, list[dict[str, Any]]]:
    """The Ansible playbooks the jobs run, by file name."""
    venv = "{{ ansible_user_dir }}/.attonix-venv"
    workdir = "{{ zuul.project.src_dir }}"
    path_env = {"PATH": venv + "/bin:{{ ansible_env.PATH }}"}
    return {
        "attonix-pre.yaml": [
            {
                "hosts": "all",
                "roles": ["prepare-workspace", "ensure-pip"],
                "tasks": [
                    {
                        "name": "Install Attonix into a private virtualenv",
                        "ansible.builtin.pip": {
                            "name": ATTONIX_REQUIREMENT,
                            "virtualenv": venv,
                            "virtualenv_command": "python3 -m venv",
                        },
                    }
                ],
            }
        ],
        "attonix-check.yaml": [
            {
                "hosts": "all",
                "environment": path_env,
                "tasks": [
                    {
                        "name": "Policy gate",
                        "ansible.builtin.shell": f"attonix check {BLUEPRINT_FILE} --fail-on medium "
                        f"-o sarif --output-file {SARIF_FILE}",
                        "args": {"chdir": workdir},
                    },
                    {
                        "name": "Render every target this project deploys",
                        "ansible.builtin.command": {
                            "argv": [
                                "attonix",
                                "render",
                                BLUEPRINT_FILE,
                                "--target",
                                "{{ item }}",
                                "--output-dir",
                                RENDER_DIR + "/{{ item }}",
                            ],
                            "chdir": workdir,
                        },
                        "loop": "{{ attonix_targets }}",
                    },
                ],
            }
        ],
        "attonix-run.yaml": [
            {
                "hosts": "all",
                # Secrets reach the commands as ATTONIX_SECRET_* variables, never as files.
                "environment": "{{ path_env | combine(attonix_secret_env | default({})) }}",
                "vars": {"path_env": path_env},
                "tasks": [
                    {
                        "name": "Run the stage",
                        "ansible.builtin.shell": "{{ item }}",
                        "args": {"chdir": workdir},
                        "loop": "{{ attonix_commands }}",
                        "no_log": "{{ attonix_secret_env is defined }}",
                    }
                ],
            }
        ],
        "attonix-post.yaml": [
            {
                "hosts": "all",
                "roles": [
                    {"role": "fetch-output"},
                ],
                "tasks": [
                    {
                        "name": "Keep the policy report",
                        "ansible.builtin.fetch": {
                            "src": f"{workdir}/{SARIF_FILE}",
                            "dest": "{{ zuul.executor.log_root }}/",
                            "flat": True,
                            "fail_on_missing": False,
                        },
                    }
                ],
            }
        ],
    }


def render_zuul(bp: Blueprint, pipelines: list[EffectivePipeline]) -> list[Artifact]:
    """The tenant, the config project's stanzas and its playbooks (empty without Zuul)."""
    if bp.cicd.zuul is None:
        return []
    mine = [e for e in pipelines if e.pipeline.provider == "zuul"]
    arts = [
        Artifact("cicd", "zuul/main.yaml", tenant(bp, mine)),
        Artifact("cicd", "zuul/zuul.d/pipelines.yaml", pipeline_stanzas(bp)),
        Artifact("cicd", "zuul/zuul.d/nodesets.yaml", nodeset_stanzas(bp)),
        Artifact("cicd", "zuul/zuul.d/jobs.yaml", job_stanzas(bp, mine)),
        Artifact("cicd", "zuul/zuul.d/projects.yaml", project_stanzas(bp, mine)),
    ]
    if semaphores := semaphore_stanzas(bp, mine):
        arts.append(Artifact("cicd", "zuul/zuul.d/semaphores.yaml", semaphores))
    if declared_secrets(bp, mine):
        arts.append(Artifact("cicd", "zuul/zuul.d/secrets.yaml", secrets_text(bp, mine), "text"))
    arts += [Artifact("cicd", f"zuul/playbooks/{n}", doc) for n, doc in playbooks().items()]
    return arts
