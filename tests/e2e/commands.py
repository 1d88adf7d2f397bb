"""The exact commands README.md tells users to paste. Tests run these strings (through bash, from the
repository root or the directory named beside each), and test_e2e_docs checks that each one appears verbatim
in README.md, so the docs cannot drift from what is proven."""

# kustomize (standalone, exec KRM function) — cwd: repository root
KUSTOMIZE_BUILD_BASE = "kustomize build --enable-alpha-plugins --enable-exec kustomize/base"
KUSTOMIZE_BUILD_PROD = "kustomize build --enable-alpha-plugins --enable-exec kustomize/overlays/prod"
KUSTOMIZE_FN_RUN = 'kustomize fn run kustomize/base --enable-exec --exec-path "$(which kinject)"'

# kubectl kustomize (legacy exec plugin) — cwd: repository root
KUBECTL_INSTALL_PLUGIN = "kinject install kustomize-plugin"
KUBECTL_KUSTOMIZE = "kubectl kustomize --enable-alpha-plugins kustomize/kubectl"
# CI guard against silently skipped functions
KUBECTL_GUARD = "kubectl kustomize --enable-alpha-plugins kustomize/kubectl | kinject check"
KUBECTL_GUARD_SKIPPED = "kubectl kustomize --enable-alpha-plugins kustomize/base | kinject check"

# Helm 3 (post-renderer executable) — cwd: repository root
HELM3_TEMPLATE = (
    "helm template shop tests/e2e/charts/shop --namespace shop --post-renderer kinject"
    " --post-renderer-args inject --post-renderer-args --namespace-labels=istio-injection=enabled"
)
# Helm 4 (postrenderer/v1 plugin)
HELM4_INSTALL_PLUGIN = "kinject install helm-plugin"
HELM4_TEMPLATE = (
    "helm template shop tests/e2e/charts/shop --namespace shop --post-renderer kinject"
    " --post-renderer-args --namespace=shop --post-renderer-args --namespace-labels=istio-injection=enabled"
)

# kpt (exec function; kpt is not in the registries, its input is replayed) — documented only
KPT_EVAL = "kpt fn eval kustomize/base --exec kinject"
KPT_RENDER = "kpt fn render shop --allow-exec"

# Flux pre-render — cwd: repository root
FLUX_RENDER = "plugin/flux/render.sh rendered kustomize/overlays/prod"

# container function: what `docker run -i IMAGE` executes
CONTAINER_ENTRYPOINT = "kinject"
# with kinject.yaml's function annotation set to `container: {image: kinject:0.1.0}`
CONTAINER_KUSTOMIZE = "kustomize build --enable-alpha-plugins kustomize/base"
CONTAINER_KUBECTL = "kubectl kustomize --enable-alpha-plugins kustomize/base"

# pre-commit — cwd: a git repository holding manifests
PRECOMMIT_FILES = "k8s/namespace.yaml k8s/shop.yaml k8s/legacy.yaml"
PRECOMMIT_TRY_INJECT = "pre-commit try-repo {repo} kinject-inject --files " + PRECOMMIT_FILES
PRECOMMIT_DOCS_REPO = "path/to/kinject"
