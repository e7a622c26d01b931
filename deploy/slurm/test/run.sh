#!/usr/bin/env bash
# The Slurm test, for real: a one-host Slurm (munged, slurmctld, slurmd with 4 task slots, all on 127.0.0.1) started
# here, deepem-pick.sbatch submitted with sbatch over 3 tasks, the allocation ended halfway with the SIGTERM that
# `--signal=B:TERM@...` sends, the same command submitted again, and the outputs checked: every micrograph picked
# once, the second job resumed what the first left. Too slow and too privileged for every CI run (it needs root and
# the slurm-wlm and munge packages, which it installs with apt-get when they are missing); CI runs a fast check of the
# same script with srun played by a shim (tests/DeepEM.Cli.Tests/DeployTests.cs).
#
#   deploy/slurm/test/run.sh            (as root, from anywhere; about 2 minutes after the first build)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
HERE="$ROOT/deploy/slurm/test"
fail() { echo "slurm test: FAILED: $*" >&2; exit 1; }
say() { echo "slurm test: $*"; }

[[ $(id -u) -eq 0 ]] || fail "run as root (slurmd starts jobs as their user)"
if ! command -v slurmctld > /dev/null && ! [[ -x /usr/sbin/slurmctld ]]; then
  say "installing slurm-wlm and munge (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge > /dev/null
fi

work=$(mktemp -d /tmp/deepem-slurm-test.XXXXXX)
# munged refuses a socket below a folder that others cannot traverse (mktemp makes it 0700).
chmod 755 "$work"
cleanup() { "$HERE/local-slurm.sh" stop "$work/slurm" > /dev/null 2>&1 || true; }
trap cleanup EXIT
started=$SECONDS

# The program, built once here (the jobs then only run it).
read -r -a deepem <<< "${DEEPEM:-$ROOT/deepem}"
"${deepem[@]}" --version > /dev/null

say "data: a model trained on 3 simulated micrographs, 40 more to pick"
"${deepem[@]}" simulate --out "$work/train" --count 3 --size 640 --box 48 --seed 61 > /dev/null
"${deepem[@]}" simulate --out "$work/test" --count 40 --size 512 --box 48 --seed 62 > /dev/null
"${deepem[@]}" train --micrographs "$work/train/micrographs" --coords "$work/train/truth" --box 48 --epochs 2 \
  --out "$work/model.deepem" > /dev/null

say "starting a one-host Slurm in $work/slurm"
slurm_env=$("$HERE/local-slurm.sh" start "$work/slurm" 4) || fail "the one-host Slurm did not start (above)"
eval "$slurm_env"
sinfo --noheader --format "%P %D %c %t" | sed 's/^/  sinfo: /'

# Every deepem process on loopback; the job sees this environment (sbatch exports it).
export DEEPEM="${deepem[*]}" DEEPEM_HOST=127.0.0.1 DEEPEM_WORKER_HOST=127.0.0.1 DEEPEM_DEVICE=cpu
export DEEPEM_PORT=0   # any free port: the script reads it back from the coordinator's start line
submit() {
  sbatch --parsable --nodes=1 --ntasks-per-node=3 --time=10 --chdir="$work" --output="$work/job-%j.out" \
    "$ROOT/deploy/slurm/deepem-pick.sbatch" --model "$work/model.deepem" --micrographs "$work/test/micrographs" \
    --out "$work/picks" --device cpu
}
wait_gone() {
  local job=$1 deadline=$((SECONDS + $2))
  while squeue --noheader --jobs "$job" 2> /dev/null | grep -q .; do
    (( SECONDS < deadline )) || fail "job $job still running after $2 s; its output:$(echo; cat "$work/job-$job.out")"
    sleep 1
  done
}
picked() { find "$work/picks" -maxdepth 1 -name '*.star' ! -name autopick.star 2> /dev/null | wc -l; }
exit_code() { scontrol show job "$1" | sed -n 's/.*ExitCode=\([0-9]*\):.*/\1/p'; }

say "allocation 1: submitted; it ends (SIGTERM to the batch script, as --signal=B:TERM does) once 5 micrographs are picked"
job1=$(submit)
deadline=$((SECONDS + 180))
until (( $(picked) >= 5 )); do
  (( SECONDS < deadline )) || fail "job $job1 picked nothing in 180 s; its output:$(echo; cat "$work/job-$job1.out" 2> /dev/null)"
  squeue --noheader --jobs "$job1" | grep -q . || fail "job $job1 ended early:$(echo; cat "$work/job-$job1.out")"
  sleep 0.5
done
scancel --signal=TERM --batch "$job1"
wait_gone "$job1" 400
first=$(picked)
grep -q "SIGTERM: the allocation is ending" "$work/job-$job1.out" || fail "job $job1 did not see the SIGTERM:$(echo; cat "$work/job-$job1.out")"
[[ $(exit_code "$job1") == 75 ]] || fail "job $job1 exit code $(exit_code "$job1"), expected 75 (stopped before the end)"
# Every node that was up left gracefully (a worker still joining when the allocation ended may never have been up).
[[ -f $work/deepem-logs/$job1/coordinator.out ]] || fail "job $job1 left no node logs in $work/deepem-logs/$job1"
for out in "$work/deepem-logs/$job1"/*.out; do
  grep -q " is up (roles" "$out" || continue
  grep -q " left the cluster" "$out" || fail "$out: the node did not leave the cluster gracefully:$(echo; tail -5 "$out")"
done
(( first < 40 )) || fail "job $job1 picked all 40 before it was stopped: nothing left to resume"
say "allocation 1: stopped with $first of 40 picked; every node left the cluster gracefully"

say "allocation 2: the same command again"
job2=$(submit)
wait_gone "$job2" 400
[[ $(exit_code "$job2") == 0 ]] || fail "job $job2 exit code $(exit_code "$job2"):$(echo; cat "$work/job-$job2.out")"
grep -q "(resumed)" "$work/job-$job2.out" || fail "job $job2 did not resume the campaign:$(echo; cat "$work/job-$job2.out")"
# What the journal knew as done is not picked again (a micrograph being written as the allocation ended may be picked
# once more: at least once, never lost): the two counts add up to 40, and at least the 5 seen done are not redone.
summary=$(sed -n 's/^picked \([0-9]*\) micrographs ([0-9]* particles) in [0-9.]* s, \([0-9]*\) already done.*/\1 \2/p' "$work/job-$job2.out")
read -r again already <<< "$summary"
[[ -n $summary ]] && (( again + already == 40 && already >= 5 && already <= first )) \
  || fail "job $job2: picked ${again:-?} and ${already:-?} already done, after $first picked in job $job1"
[[ $(picked) == 40 ]] || fail "$(picked) of 40 micrographs have picks"
workers=$(grep -c " is up (roles worker)" "$work"/deepem-logs/"$job2"/worker-*.out | awk -F: '{s+=$2} END {print s}')
[[ $workers == 3 ]] || fail "job $job2 ran $workers worker nodes, expected 3 (one per task)"
say "allocation 2: resumed and finished: $again picked, $already already done, 3 worker nodes"
say "PASSED in $((SECONDS - started)) s (work folder $work)"
