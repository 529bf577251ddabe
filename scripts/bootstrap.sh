#!/usr/bin/env bash
# Set up flowbench on a fresh Debian machine (root or sudo, package registries reachable) and run
# one of its jobs. Idempotent: a second call reuses what the first installed.
#
#   bash scripts/bootstrap.sh demo   # set up, run the quick fmnist-cpu benchmark, write its report
#   bash scripts/bootstrap.sh test   # set up, run the test suite
#   bash scripts/bootstrap.sh setup  # set up only
#
# Environment: PYTHON (default python3, needs >= 3.11), VENV (default .venv),
# FLOWBENCH_CACHE (default .cache/flowbench), TORCH_EXTENSIONS_DIR (default .cache/torch_extensions).
set -euo pipefail
cd "$(dirname "$0")/.."

job="${1:-setup}"
case "$job" in demo|test|setup) ;; *) echo "usage: bash scripts/bootstrap.sh {demo|test|setup}" >&2; exit 2 ;; esac

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
export FLOWBENCH_CACHE="${FLOWBENCH_CACHE:-$PWD/.cache/flowbench}"
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$PWD/.cache/torch_extensions}"

# 1. System packages: Fashion-MNIST (the embedded default dataset) from Debian.
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${FLOWBENCH_DATA:-}" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq || true
    $SUDO apt-get install -y -qq dataset-fashion-mnist
  else
    echo "warning: no apt-get; set FLOWBENCH_DATA to a folder with the Fashion-MNIST idx files" >&2
  fi
fi

# 2. A virtual environment with the pinned torch/torchvision pair (constraints.txt) and flowbench.
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.flowbench-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi

# 3. The job.
case "$job" in
  setup)
    echo "flowbench is set up: source $VENV/bin/activate"
    ;;
  test)
    exec "$VENV/bin/python" -m pytest "${@:2}"
    ;;
  demo)
    out="runs/fmnist-cpu-quick"
    "$VENV/bin/flowbench" bench benchmarks/fmnist-cpu.toml --quick --out "$out"
    "$VENV/bin/flowbench" report "$out"
    echo "Report: $PWD/$out/report/report.html (Markdown: $out/report/report.md)"
    ;;
esac
