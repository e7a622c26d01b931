#!/usr/bin/env bash
# `deepem pick` against RELION 3.1's Laplacian-of-Gaussian autopick on the same 30 real micrographs, side by side in
# one run (docs/benchmarks.md, "Against RELION's LoG autopick"). The 14 shared EMPIAR-10017 micrographs are converted
# to float32 MRC, the first 16 again under other names (…_copy1, …_copy2), so that both pickers read the same 30 files.
#
#   bench/relion-log.sh [WORK] [ROUNDS]     WORK: a folder for the data and the runs (default: a new temporary one)
#
# Needs Debian's relion (relion_autopick_mpi, mpirun), python3-mrcfile and python3-pil, and /usr/bin/time. The model is
# the recipe of docs/benchmarks.md (trained once into WORK, about 5 minutes on 2 cores) unless WORK/betagal.deepem exists.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${DEEPEM_SHARED:-$root/../shared}/data/empiar10017_betagal"
work="${1:-$(mktemp -d)}"
rounds="${2:-3}"
mkdir -p "$work/mrc"
cd "$work"
for tool in relion_autopick_mpi mpirun /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "relion-log.sh: $tool is missing (apt-get install relion time)" >&2; exit 1; }
done

# 1. The micrographs, as float32 MRC at 1.77 Å/px, and RELION's list of them (with the optics table RELION 3.1 wants).
if [ "$(ls mrc | wc -l)" -ne 30 ]; then
  /usr/bin/python3 - "$data/cryosegnet_finetune_dataset/images" <<'PY'
import glob, os, sys
import mrcfile, numpy as np
from PIL import Image
files = sorted(glob.glob(os.path.join(sys.argv[1], "*.jpg")))
for i in range(30):
    base = os.path.basename(files[i % len(files)])[:-4]
    name = base if i < len(files) else f"{base}_copy{i // len(files)}"
    pixels = np.asarray(Image.open(files[i % len(files)]).convert("L"), dtype=np.float32)
    with mrcfile.new(f"mrc/{name}.mrc", overwrite=True) as m:
        m.set_data(pixels)
        m.voxel_size = 1.77
PY
fi
{
  printf 'data_optics\nloop_\n_rlnOpticsGroupName #1\n_rlnOpticsGroup #2\n_rlnMicrographPixelSize #3\n_rlnVoltage #4\n'
  printf '_rlnSphericalAberration #5\n_rlnAmplitudeContrast #6\nopticsGroup1 1 1.77 300 2.7 0.1\n\n'
  printf 'data_micrographs\nloop_\n_rlnMicrographName #1\n_rlnOpticsGroup #2\n'
  ls mrc/*.mrc | sed 's/$/ 1/'
} > micrographs.star

# 2. The model: the recipe, trained on the first 10 shared micrographs.
if [ ! -f betagal.deepem ]; then
  ls "$data"/cryosegnet_finetune_dataset/images/*.jpg | head -10 > train.txt
  "$root/deepem" train --micrographs $(cat train.txt) --coords "$data/derived_mask_centers" --box 180 --bin 4 --epochs 20 --out betagal.deepem > train.log
fi

# 3. Both pickers in turn, ROUNDS times after one round not counted (page cache, first build of the program).
deepem_run() { rm -rf picks && "$root/deepem" pick --model betagal.deepem --micrographs mrc --out picks > deepem.log 2>&1; }
relion_run() {
  rm -rf LoG && mpirun --allow-run-as-root --oversubscribe -n 2 relion_autopick_mpi --i micrographs.star --odir LoG/ --pickname autopick \
    --LoG --LoG_diam_min 120 --LoG_diam_max 170 --angpix 1.77 --shrink 0 --lowpass 20 --LoG_adjust_threshold 1.25 --skip_side 90 > relion.log 2>&1
}
export -f deepem_run relion_run
export root
: > times.txt
for round in $(seq 0 "$rounds"); do
  for who in deepem relion; do
    /usr/bin/time -f "$round $who %e %U %S %M" -a -o times.txt bash -c "${who}_run"
  done
done

# 4. Medians of the counted rounds: wall and CPU seconds; peak resident memory of the largest process, the most of any round.
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '| | wall s (median) | CPU s (median) | peak memory MB |\n| --- | ---: | ---: | ---: |\n'
for who in deepem relion; do
  wall=$(awk -v w=$who '$1 > 0 && $2 == w { print $3 }' times.txt | median)
  cpu=$(awk -v w=$who '$1 > 0 && $2 == w { print $4 + $5 }' times.txt | median)
  peak=$(awk -v w=$who '$1 > 0 && $2 == w && $6 > p { p = $6 } END { printf "%.0f", p / 1024 }' times.txt)
  printf '| %s | %s | %s | %s |\n' "$who" "$wall" "$cpu" "$peak"
  eval "${who}_wall=$wall"
done
awk -v a="$deepem_wall" -v b="$relion_wall" 'BEGIN { printf "\ndeepem / RELION wall time: %.2f\n", a / b }'
echo "picks: $work/picks (deepem), $work/LoG (RELION); every run's figures: $work/times.txt"
