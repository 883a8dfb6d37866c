# Sourced by the examples/kube scripts that run kubectl (bash, set -euo pipefail): puts a
# kubectl on PATH. The one on PATH if there is one, else build-kube's (k8s.io/kubernetes/cmd/kubectl
# of the node's version, built once into its cache: 45 s after build-kube had built the other
# binaries, whose compiled packages it shares).
if ! command -v kubectl >/dev/null 2>&1; then
  _kube_bin=$("$(dirname "${BASH_SOURCE[0]}")/build-kube" kubectl | tail -n 1)
  [ -x "$_kube_bin/kubectl" ] || { echo "no kubectl on PATH nor in $_kube_bin" >&2; exit 1; }
  PATH=$_kube_bin:$PATH
  unset _kube_bin
fi
