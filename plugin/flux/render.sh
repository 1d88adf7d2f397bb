#!/usr/bin/env bash
# Flux pre-render: Flux controllers cannot run KRM functions or post-renderers, so render in CI.
#
#   plugin/flux/render.sh OUT_DIR OVERLAY_DIR...
#
# Each OVERLAY_DIR is built with `kustomize build --enable-alpha-plugins --enable-exec` (its kinject
# transformer injects the sidecars); with KINJECT_PIPE=1 the output is also piped through `kinject inject`
# (for overlays without the transformer; KINJECT_ARGS adds options, e.g. "--namespace-labels=istio-injection=enabled").
# The result goes to OUT_DIR/<overlay path with / as ->.yaml, e.g. kustomize/overlays/prod -> kustomize-overlays-prod.yaml,
# written atomically: a failing overlay leaves its previous file untouched and the script exits non-zero.
# Then either commit OUT_DIR to the branch/path a Flux GitRepository watches, or push it as an OCI artifact
# reconciled through an OCIRepository + Kustomization:
#   flux push artifact "oci://registry.example.com/shop-manifests:$(git rev-parse --short HEAD)" \
#     --path=OUT_DIR --source="$(git config --get remote.origin.url)" --revision="$(git rev-parse HEAD)"
set -euo pipefail

die() { printf 'flux render: error: %s\n' "$*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 OUT_DIR OVERLAY_DIR..."
out=$1; shift
command -v kustomize >/dev/null || die "kustomize not found on PATH"
command -v kinject >/dev/null || die "kinject not found on PATH"
mkdir -p "$out"

failed=0
for overlay in "$@"; do
  [ -d "$overlay" ] || { printf 'flux render: %s: not a directory\n' "$overlay" >&2; failed=1; continue; }
  name=$(printf '%s' "${overlay%/}" | sed -e 's#^\./##' -e 's#^/##' -e 's#/#-#g')
  tmp=$(mktemp "$out/.$name.XXXXXX")
  # shellcheck disable=SC2086 # KINJECT_ARGS is a list of options
  if { kustomize build --enable-alpha-plugins --enable-exec "$overlay" \
        | if [ "${KINJECT_PIPE:-0}" = 1 ]; then kinject inject ${KINJECT_ARGS:-} -; else cat; fi; } >"$tmp" \
     && [ -s "$tmp" ]; then
    mv -f "$tmp" "$out/$name.yaml"
    printf 'flux render: %s -> %s\n' "$overlay" "$out/$name.yaml" >&2
  else
    rm -f "$tmp"
    printf 'flux render: FAILED to render %s (nothing written)\n' "$overlay" >&2
    failed=1
  fi
done
[ "$failed" = 0 ] || die "at least one overlay failed to render"
