#!/usr/bin/env bash
# Picking accuracy on the real micrographs, the protocol of docs/benchmarks.md ("Picking real micrographs"): train on
# the first 10 shared EMPIAR-10017 micrographs, pick the last 4 (which training never saw), match one to one within
# 27 px. Each seed trains a model of its own; with a label count, each seed also draws its own random subset of the true
# centres of every training micrograph, as a user who picks a few particles per micrograph leaves the rest unlabelled.
#
#   [SPLIT=pretrained] bench/accuracy.sh WORK LABELS "SEEDS" [train flags...]
#     WORK    a folder for the models, picks and reports (kept: a second run with the same WORK reuses its models)
#     LABELS  "all" or the number of true centres kept per training micrograph
#     SEEDS   e.g. "1 2 3"
#     SPLIT   first10 (the default, the protocol above) or pretrained: test on the 8 micrographs that REPIC's pretrained
#             crYOLO and Topaz picked (their picks are in the shared data), train on the other 6, and score those two
#             pickers' picks on the same 8 by the same matching, so that deepem and the anchors meet on the same images
#             (their lines are printed first and kept in WORK/pretrained.summary; deepem's files are named pretrained-*)
#
# Prints, per seed, F1 at the model's own threshold (`pick` with its default `--threshold auto`), the best F1 over all
# thresholds and the threshold of each; then the means. About 3 minutes per seed on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${DEEPEM_SHARED:-$root/../shared}/data/empiar10017_betagal"
work="$1"; labels="$2"; seeds="$3"; shift 3
deepem="$root/deepem"
mkdir -p "$work"
cd "$work"
pretrained="$data/repic_examples_10017"
case "${SPLIT:-first10}" in
  first10)
    ls "$data"/cryosegnet_finetune_dataset/images/*.jpg | head -10 > train.txt
    ls "$data"/cryosegnet_finetune_dataset/images/*.jpg | tail -4 > test.txt ;;
  pretrained)
    : > train.txt; : > test.txt
    for f in "$data"/cryosegnet_finetune_dataset/images/*.jpg; do
      if [ -f "$pretrained/crYOLO/$(basename "$f" .jpg).box" ]; then echo "$f" >> test.txt; else echo "$f" >> train.txt; fi
    done ;;
  *) echo "accuracy.sh: SPLIT=$SPLIT: first10 or pretrained" >&2; exit 2 ;;
esac
# A split's models are trained on other micrographs: they must not be reused by the other split in the same WORK.
prefix=""
if [ "${SPLIT:-first10}" = pretrained ]; then
  prefix="pretrained-"
  [ "$(wc -l < test.txt)" -eq 8 ] || { echo "accuracy.sh: $pretrained/crYOLO: expected the picks of 8 micrographs, found $(wc -l < test.txt)" >&2; exit 2; }
fi
rm -rf truth && mkdir -p truth
for f in $(cat test.txt); do cp "$data/derived_mask_centers/$(basename "$f" .jpg).csv" truth/; done

if [ "${SPLIT:-first10}" = pretrained ]; then
  # The anchors' picks as centres in the JPEG's pixels (SOURCE.md: the .box corner is in MRC convention, whose rows run
  # the other way), one Topaz-style list per picker, scored like deepem's.
  for pair in crYOLO:crYOLO topaz:Topaz; do
    folder="${pair%%:*}"; picker="${pair#*:}"
    python3 - "$pretrained/$folder" "$picker.picks.txt" test.txt <<'PY'
import os, sys
src, dst, listing = sys.argv[1:4]
with open(dst, "w") as out:
    out.write("image_name\tx_coord\ty_coord\tscore\n")
    for path in open(listing).read().split():
        name = os.path.basename(path)[:-4]
        for line in open(os.path.join(src, name + ".box")):
            x, y, w, h, score = line.split()[:5]
            out.write(f"{name}\t{float(x) + float(w) / 2}\t{4095 - (float(y) + float(h) / 2)}\t{score}\n")
PY
    "$deepem" evaluate --picks "$picker.picks.txt" --truth truth --radius 27 --json "$picker.json" > /dev/null
    python3 - "$picker" <<'PY'
import json, sys
a = json.load(open(sys.argv[1] + ".json")); p, b = a["AllPicks"], a["BestF1"]
print(f"{sys.argv[1]} (pretrained, REPIC's picks) on the same micrographs: all picks F1 {p['F1']:.3f} (P {p['Precision']:.3f} R {p['Recall']:.3f});"
      f"  best F1 {b['F1']:.3f} (P {b['Precision']:.3f} R {b['Recall']:.3f})")
PY
  done | tee pretrained.summary
fi

for seed in $seeds; do
  run="${prefix}labels-$labels-seed-$seed"
  coords="$data/derived_mask_centers"
  if [ "$labels" != all ]; then
    coords="$run.coords"
    # The same subset for the same seed on any machine: Python's Mersenne Twister, seeded by name and seed.
    python3 - "$data/derived_mask_centers" "$coords" "$labels" "$seed" train.txt <<'PY'
import os, random, sys
src, dst, n, seed, listing = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
os.makedirs(dst, exist_ok=True)
for path in open(listing).read().split():
    name = os.path.basename(path)[:-4]
    lines = open(os.path.join(src, name + ".csv")).read().splitlines()
    rows = random.Random(f"{name}:{seed}").sample(lines[1:], min(n, len(lines) - 1))
    with open(os.path.join(dst, name + ".csv"), "w") as f:
        f.write("\n".join([lines[0]] + rows) + "\n")
PY
  fi
  # Default epochs: the recipe's 20 with every particle labelled, more with sparse labels (docs/cli.md, train).
  [ -f "$run.deepem" ] || "$deepem" train --micrographs $(cat train.txt) --coords "$coords" --box 180 --bin 4 \
    --seed "$seed" --out "$run.deepem" "$@" > "$run.train.log"
  "$deepem" pick --model "$run.deepem" --micrographs $(cat test.txt) --out "$run.default" > /dev/null
  "$deepem" pick --model "$run.deepem" --micrographs $(cat test.txt) --out "$run.all" --threshold 0.02 > /dev/null
  "$deepem" evaluate --picks "$run.default" --truth truth --radius 27 --json "$run.default.json" > /dev/null
  "$deepem" evaluate --picks "$run.all" --truth truth --radius 27 --json "$run.all.json" > /dev/null
  python3 - "$run" <<'PY'
import json, sys
run = sys.argv[1]
d, a = json.load(open(run + ".default.json")), json.load(open(run + ".all.json"))
p, b = d["AllPicks"], a["BestF1"]
print(f"{run}: at the model's threshold {p['Threshold']:.3f}  F1 {p['F1']:.3f} (P {p['Precision']:.3f} R {p['Recall']:.3f});"
      f"  best F1 {b['F1']:.3f} at {b['Threshold']:.3f} (P {b['Precision']:.3f} R {b['Recall']:.3f});  PR area {a['AreaUnderPrCurve']:.3f}")
PY
done | tee "${prefix}labels-$labels.summary"
python3 - "${prefix}labels-$labels.summary" <<'PY'
import re, sys
rows = [list(map(float, re.findall(r"F1 ([0-9.]+)", l))) for l in open(sys.argv[1]) if "best F1" in l]
if rows:
    print(f"mean of {len(rows)}: F1 at the model's threshold {sum(r[0] for r in rows) / len(rows):.3f}, best F1 {sum(r[1] for r in rows) / len(rows):.3f}")
PY
