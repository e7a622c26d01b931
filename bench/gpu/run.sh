#!/usr/bin/env bash
# The GPU node check of docs/benchmarks.md ("A GPU node: the prepared check"): the device against the managed CPU
# backend on random inputs, dense scoring of a binned 4096² micrograph (deepem-48, paper-klh) against the card's
# float32 peak with the time of each step, training boxes per second, end-to-end micrographs per second over a folder
# of simulated 4096² MRC files, and the device's picks against the CPU's. Exit 0 when every check passed.
#
#   bench/gpu/run.sh build                    here, with the .NET SDK: the self-contained, trimmed program into
#                                             bench/gpu/out (about 34 MB; carried to a machine that has no SDK)
#   bench/gpu/run.sh [OPTIONS]                on the GPU machine: runs bench/gpu/out/deepem-gpu-check --device gpu,
#                                             stopped after 8 minutes (DEEPEM_GPU_CHECK_LIMIT seconds)
#   bench/gpu/run.sh --device ilgpu-cpu       without a GPU: the same kernels on ILGPU's CPU accelerator, tiny sizes
#
# OPTIONS go to the program: --gpu N, --size PX, --micrographs N, --preset NAME..., --work DIR (`--help` lists them).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/out"
program="$out/deepem-gpu-check"

build() {
  rm -rf "$out"
  dotnet publish "$here/DeepEM.GpuCheck" -c Release -r linux-x64 --self-contained -o "$out" -v quiet --nologo
  echo "built $program ($(du -sh "$out" | cut -f1))"
}

if [[ "${1:-}" == "build" ]]; then
  build
  exit 0
fi
if [[ ! -x "$program" ]]; then
  if command -v dotnet >/dev/null; then
    build >&2
  else
    echo "run.sh: $program is missing and there is no .NET SDK here to build it: run 'bench/gpu/run.sh build' on a machine that has one and bring bench/gpu/out" >&2
    exit 2
  fi
fi
device=(--device gpu)
for arg in "$@"; do [[ "$arg" == "--device" ]] && device=(); done
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader || true
# The machine's own limit on the check: a hung driver or kernel must not hold a lent machine.
exec timeout "${DEEPEM_GPU_CHECK_LIMIT:-480}" "$program" "${device[@]}" "$@"
