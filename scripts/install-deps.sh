#!/usr/bin/env bash
# Installs every Debian package that memr1's build, tests and benchmarks need. Idempotent: when
# everything is present it says so and changes nothing. As non-root it prints the apt-get line
# to run instead and exits 1.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # LibTorch (CPU build) and a fast BLAS for it: without libopenblas0-openmp LibTorch's CPU
  # matrix products fall back to the reference BLAS (about 8x slower here)
  libtorch-dev libopenblas0-openmp
  # RPC and storage
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  librocksdb-dev libsqlite3-dev
  # data parallelism on CPU
  libopenmpi-dev openmpi-bin
  # config, CLI, JSON, HTTP, regexes
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev libpcre2-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # independent NumPy reference of the Hugging Face model forward (tests/llm/tools)
  python3-numpy
  # tokenizer: ICU (Unicode normalization); node/npm and jinja2 run the reference tokenizer and
  # chat templates in the tokenizer tests
  libicu-dev nodejs python3-jinja2
  # eval: NLTK is the reference the BLEU-1 / Porter / tokenizer tests compare against
  python3-nltk
  # PNG charts of metrics (`memr1 plot`); a font for their text
  libcairo2-dev fonts-dejavu-core
  # deploy: a real one-node Slurm (slurmctld, slurmd, munge) for the Slurm tests; YAML for the
  # Kubernetes manifest checks
  slurm-wlm munge python3-yaml
)
# Debian ships npm as its own package; NodeSource's nodejs bundles it (and conflicts with it).
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(npm)
fi
# kubectl (kustomize) for the Kubernetes manifest checks: Debian's kubernetes-client, unless a
# kubectl from elsewhere is installed (the two conflict).
if ! command -v kubectl >/dev/null 2>&1; then
  PACKAGES+=(kubernetes-client)
fi

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

command_line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root:  apt-get update && $command_line" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when a package is not known to them yet.
if ! apt-get install -y --no-install-recommends --dry-run "${missing[@]}" >/dev/null 2>&1; then
  apt-get update
fi
apt-get install -y --no-install-recommends "${missing[@]}"
