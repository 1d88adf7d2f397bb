#!/usr/bin/env python3
"""Generate realistic benchmark bundles from the Online Boutique style manifests in bench/manifests/.

One copy of the application is 12 Deployments + 12 Services (one file per microservice, each with its
license header and comments, as the upstream `kubernetes-manifests/` directory keeps them). A bundle of N
workloads takes the first N Deployments and the first N Services of copies 0, 1, 2, ..., every copy renamed
(`emailservice` -> `emailservice-0003`, and every reference to it: labels, selectors, env addresses) so that
all objects are distinct, all in one Namespace labelled `istio-injection: enabled`.

For each N it writes, in the output directory:
  rl-N.yaml                      a ResourceList for `kinject fn` (with a SidecarInjector functionConfig)
  kustomize-N/resources.yaml     the same objects as a plain YAML stream (for `kinject inject`)
  kustomize-N/kustomization.yaml a kustomization listing it (for `kubectl kustomize`)
  config.yaml                    the SidecarInjector config, for `kinject inject --config`

Usage: python bench/generate.py --sizes 10 100 1000 --out bench/out/work
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFESTS = HERE / "manifests"
NAMESPACE = "boutique"
APP_SIZE = 12  # Deployments (and Services) in one copy of the application

CONFIG = """\
apiVersion: kinject.dev/v1alpha1
kind: SidecarInjector
metadata:
  name: boutique-mesh
  annotations:
    config.kubernetes.io/local-config: "true"
spec:
  values:
    global:
      hub: docker.io/istio
      tag: 1.30.3
"""

NAMESPACE_DOC = f"""\
# The namespace every Online Boutique copy lives in. Injection is switched on for the whole namespace.
apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
  labels:
    istio-injection: enabled # every pod in here gets a sidecar
"""


@dataclass
class Doc:
    kind: str  # "Deployment" or "Service"
    name: str
    text: str  # the document's text, comments included, ending with a newline


def load_templates(directory: Path = MANIFESTS) -> list[list[Doc]]:
    """The manifest files in order, each a list of its documents."""
    files = []
    for path in sorted(directory.glob("*.yaml")):
        docs = []
        for part in re.split(r"^---[ \t]*\n", path.read_text(), flags=re.M):
            if not part.strip():
                continue
            kind = re.search(r"^kind: *(\S+)", part, re.M).group(1)
            name = re.search(r"^metadata:\n(?:  .*\n)*?  name: *(\S+)", part, re.M).group(1)
            docs.append(Doc(kind, name, part if part.endswith("\n") else part + "\n"))
        files.append(docs)
    counts = {k: sum(d.kind == k for f in files for d in f) for k in ("Deployment", "Service")}
    assert counts == {"Deployment": APP_SIZE, "Service": APP_SIZE}, counts
    return files


def _renamer(files: list[list[Doc]]):
    names = sorted({d.name for f in files for d in f}, key=len, reverse=True)
    # A name as a whole token, not inside an image path (`.../emailservice:v0.10.2`) or a longer name.
    pattern = re.compile(r"(?<![\w./-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")
    ns_pattern = re.compile(r"^(metadata:\n(?:  .*\n)*?  name: .*\n)", re.M)

    def rename(text: str, copy: int) -> str:
        text = pattern.sub(lambda m: f"{m.group(1)}-{copy:04d}", text)
        return ns_pattern.sub(lambda m: m.group(1) + f"  namespace: {NAMESPACE}\n", text, count=1)

    return rename


def documents(n: int, files: list[list[Doc]] | None = None) -> list[Doc]:
    """The Namespace, then N Deployments and N Services (copies of the app, renamed)."""
    files = files or load_templates()
    rename = _renamer(files)
    out = [Doc("Namespace", NAMESPACE, NAMESPACE_DOC)]
    seen = {"Deployment": 0, "Service": 0}
    copy = 0
    while seen["Deployment"] < n or seen["Service"] < n:
        for f in files:
            for d in f:
                if seen[d.kind] < n:
                    seen[d.kind] += 1
                    new = rename(d.text, copy)
                    name = re.search(r"^  name: *(\S+)", new, re.M).group(1)
                    out.append(Doc(d.kind, name, new))
        copy += 1
    return out


def workload_names(n: int) -> list[str]:
    return [d.name for d in documents(n) if d.kind == "Deployment"]


def stream(docs: list[Doc]) -> str:
    return "---\n".join(d.text for d in docs)


def _item(text: str) -> str:
    """A document as a ResourceList item: `- ` on its first content line, everything else indented by 2."""
    lines = text.splitlines(keepends=True)
    out, started = [], False
    for line in lines:
        if not line.strip():
            out.append("\n")
        elif not started and not line.lstrip().startswith("#"):
            out.append("- " + line)
            started = True
        else:
            out.append("  " + line)
    return "".join(out)


def resource_list(docs: list[Doc], config: str = CONFIG) -> str:
    parts = ["apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"]
    parts += [_item(d.text) for d in docs]
    parts.append("functionConfig:\n" + "".join("  " + line if line.strip() else line
                                                for line in config.splitlines(keepends=True)))
    return "".join(parts)


def write(n: int, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    docs = documents(n)
    paths = {"rl": out / f"rl-{n}.yaml", "kdir": out / f"kustomize-{n}", "config": out / "config.yaml"}
    paths["stream"] = paths["kdir"] / "resources.yaml"
    paths["kdir"].mkdir(exist_ok=True)
    paths["rl"].write_text(resource_list(docs))
    paths["stream"].write_text(stream(docs))
    (paths["kdir"] / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- resources.yaml\n")
    paths["config"].write_text(CONFIG)
    return paths


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 5000])
    ap.add_argument("--out", type=Path, default=HERE / "out" / "work")
    args = ap.parse_args(argv)
    for n in args.sizes:
        paths = write(n, args.out)
        print(f"N={n}: {paths['rl']} ({paths['rl'].stat().st_size} bytes), {paths['stream']}")


if __name__ == "__main__":
    main()
