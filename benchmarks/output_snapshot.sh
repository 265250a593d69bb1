#!/bin/bash
# Snapshot of every report's output, for refactors that must not change it (issue 12 used it):
#
#   bash benchmarks/output_snapshot.sh make RUNS          # once: small runs made with the code checked out now
#   bash benchmarks/output_snapshot.sh take RUNS before   # the reports of the code checked out now
#   ... change the code ...
#   bash benchmarks/output_snapshot.sh take RUNS after && diff -r before after
#
# `take` runs list (every format and filter), compare (four formats; configs, run ids, --each, errors),
# inspect, show, scopes and reproduce --quick (which finds its runs already made) on a copy of RUNS at a
# fixed path, since paths appear in the output. PYTHON chooses the interpreter (default: python).
set -u
PYTHON=${PYTHON:-python}
scopelab() { TF_CPP_MIN_LOG_LEVEL=3 COLUMNS=100 "$PYTHON" -m scopelab "$@"; }

make_runs() {
    local runs=$1
    [ -e "$runs" ] && { echo "$runs exists: give a new directory" >&2; exit 2; }
    export SCOPELAB_RUNS_DIR=$runs
    local short="--set train.log_every=10" mlp="--set networks.0.steps=30 --set networks.1.steps=30"
    scopelab run tied_ae --quiet --set train.steps=40 $short --seeds 3 || exit 1
    scopelab run untied_ae --quiet --set train.steps=40 $short --seeds 3 || exit 1
    scopelab run mlp_shared --quiet $mlp $short --seeds 2 || exit 1
    scopelab run mlp_averaged --quiet $mlp $short --seeds 2 || exit 1
    scopelab run tied_ae --quiet --set train.steps=20 $short --set model.api=tf2 || exit 1
    scopelab sweep untied_ae --quiet --grid train.learning_rate=0.03,0.1 --set train.steps=20 $short || exit 1
    scopelab reproduce --quick --quiet > /dev/null || exit 1
    local first; first=$(ls "$runs" | grep tied_ae | head -1)
    scopelab tag "$first" best baseline && scopelab note "$first" "first tied run"
    scopelab rm --yes "$(ls "$runs" | grep untied_ae | sed -n 4p)"  # a sweep member, so the trash holds one
    mkdir "$runs/20260101-000000-broken" && echo '{not json' > "$runs/20260101-000000-broken/summary.json"
}

take() {
    local runs=$1 out; out=$(realpath -m "$2")
    local copy=/tmp/scopelab-snapshot-runs
    exec 9>"$copy.lock"; flock 9  # one snapshot at a time: they share the fixed path
    rm -rf "$out" "$copy"; mkdir -p "$out"; cp -a "$runs" "$copy"
    export SCOPELAB_RUNS_DIR=$copy
    local ids; mapfile -t ids < <(ls "$copy" | grep -v broken | grep -v sweeps)
    cd /tmp || exit 1
    local n=0
    c() {
        n=$((n + 1)); local file; file=$(printf '%s/%02d.txt' "$out" $n)
        { echo "\$ scopelab $*"; scopelab "$@" 2>&1 | grep -v -i "absl\|cuda\|cpu_feature\|AVX\|rebuild\|^WARNING: All log\|^I0000\|^W0000"
          echo "exit ${PIPESTATUS[0]}"; } > "$file"
    }
    c list; c list --format json; c list --format csv; c list --runs; c list --configs
    c list --configs --format csv; c list --sweeps; c list --sweeps --format json; c list --trash
    c list --runs --sort test_loss; c list --runs --sort acc_averaged --top 3; c list --runs --sort acc_net1 --reverse
    c list --runs --sort wall; c list --tag best; c list --config untied_ae --format json; c list --status broken
    c list --sort nosuch; c compare
    for format in table markdown csv json; do
        c compare untied_ae tied_ae --format $format; c compare mlp_shared mlp_averaged --format $format
        c compare "${ids[0]}" "${ids[3]}" --format $format; c compare tied_ae --each --format $format
    done
    c compare nosuch; c compare 2026; c compare 20260101-000000-broken
    for format in table json; do
        c inspect tied_ae --format $format; c inspect mlp_averaged --format $format
        c inspect "${ids[0]}" --format $format; c inspect mlp_shared --set model.api=tf2 --format $format
    done
    c inspect nosuch
    for format in text json; do c show tied_ae --format $format; c show "${ids[6]}" --format $format; done
    c show 20260101
    for format in table markdown json; do c scopes --format $format; c scopes --api tf2 --format $format; done
    for format in table markdown json; do c reproduce --quick --quiet --format $format; done
    c tag nosuch x; c rm 2026
    echo "$n outputs in $out"
}

case "${1:-}" in
    make) make_runs "${2:?RUNS}" ;;
    take) take "${2:?RUNS}" "${3:?OUT}" ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
