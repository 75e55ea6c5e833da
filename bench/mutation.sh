#!/usr/bin/env bash
# Mutation testing of the estimators, objectives, priors, metric cores and perturbations (issue 12).
#
# Slow (a minute to a quarter of an hour per module): run by hand, never by the test command.
#
#   bench/mutation.sh                 # every module below
#   bench/mutation.sh estimators elbo # some of them, by the names below
#   MUTATION_SPEC="src/untwine/x.py|tests/test_x.py" bench/mutation.sh NAME   # one module, another spec
#
# mutmut 3 (installed here into the current Python environment; not a package dependency)
# writes its mutants into a mutants/ copy of the project and runs the tests in a forked warm
# process, only those that reach the mutated function. Each module runs in a scratch copy of
# src/, tests/ and pyproject.toml (the working tree is never touched), with one worker
# (--max-children 1), one OpenMP thread, only the tests of that module, and at most
# MUTATION_TIMEOUT seconds (default 1800). Results go to MUTATION_OUT (default
# $TMPDIR/untwine-mutation, outside the repository): <module>.txt (the counts per status) and
# <module>-survivors.diff (every mutant checked and not killed, as a diff). docs/development/mutation.md has the
# last run's scores and, for each surviving mutant, why it is equivalent.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python}
TIMEOUT=${MUTATION_TIMEOUT:-1800}
OUT=${MUTATION_OUT:-${TMPDIR:-/tmp}/untwine-mutation}
mkdir -p "$OUT"

"$PYTHON" -m pip install -q "mutmut==3.8.1"

# module name -> "file to mutate|test files[|-k expression[|mutant names]]" (mutmut then runs, for each mutant, only
# those of these tests that reach the mutated function; a -k expression filters every file given; mutant names,
# globs such as untwine.train.x_draw_batch__mutmut_*, run only those mutants, the others stay "not checked")
declare -A MODULES=(
  [estimators]="src/untwine/estimators.py|tests/test_estimators.py tests/test_priors.py tests/models/test_vae.py"
  [priors]="src/untwine/priors.py|tests/test_priors.py tests/models/test_objectives.py"
  [models_init]="src/untwine/models/__init__.py|tests/models/test_vae.py tests/models/test_objectives.py"
  [vae]="src/untwine/models/vae.py|tests/models/test_vae.py"
  [beta_vae]="src/untwine/models/beta_vae.py|tests/models/test_vae.py tests/models/test_objectives.py"
  [annealed_vae]="src/untwine/models/annealed_vae.py|tests/models/test_objectives.py"
  [beta_tcvae]="src/untwine/models/beta_tcvae.py|tests/models/test_objectives.py"
  [factor_vae]="src/untwine/models/factor_vae.py|tests/models/test_objectives.py"
  [dip_vae]="src/untwine/models/dip_vae.py|tests/models/test_objectives.py"
  [decomposition]="src/untwine/models/decomposition.py|tests/models/test_objectives.py"
  [autoencoder]="src/untwine/models/autoencoder.py|tests/models/test_objectives.py"
  [elbo]="src/untwine/metrics/elbo.py|tests/metrics/test_elbo.py"
  [mig_exact]="src/untwine/metrics/mig_exact.py|tests/metrics/test_mig_exact.py"
  [sparsity]="src/untwine/metrics/sparsity.py|tests/metrics/test_sparsity.py"
  [udr]="src/untwine/metrics/udr.py|tests/metrics/test_udr.py"
  [perturb_patterns]="src/untwine/data/perturb/patterns.py|tests/data/test_perturb.py"
  [perturb_datasets]="src/untwine/data/perturb/datasets.py|tests/data/test_perturb.py"
  [perturb_selection]="src/untwine/data/perturb/selection.py|tests/data/test_perturb.py"
  [perturb_files]="src/untwine/data/perturb/files.py|tests/data/test_perturb.py"
  # studies, checkpoints and run files (issue 23): the modules whose end-to-end tests train or run studies are
  # scored against their focused unit tests (fast known answers, no study run), or mutmut ends in timeouts
  [study_index]="src/untwine/study/index.py|tests/study/test_study_index.py"
  [study_results]="src/untwine/study/results.py|tests/study/test_study_index.py tests/study/test_study_run.py|index or collect or summary or stale"
  [study_state]="src/untwine/study/state.py|tests/study/test_study_index.py tests/study/test_study_run.py"
  [study_spec]="src/untwine/study/spec.py|tests/study/test_study_spec.py"
  [checkpoint]="src/untwine/train/checkpoint.py|tests/test_checkpoint.py"
  [run_files]="src/untwine/run_files.py|tests/test_run_files.py"
  [runs]="src/untwine/runs.py|tests/test_runs_units.py tests/models/test_weak.py|units or pair_weighted_mean"
  [study_analyses]="src/untwine/study/analyses.py|tests/study/test_analyses.py tests/study/test_analyses_cells.py tests/study/test_analyses_mutants.py"
  [study_table]="src/untwine/study/table.py|tests/study/test_analyses.py tests/study/test_analyses_cells.py tests/study/test_analyses_mutants.py tests/study/test_analyses_mutants_2.py tests/study/test_vocabulary.py tests/study/test_table.py"
  [study_findings]="src/untwine/study/findings.py|tests/study/test_findings.py"
  [study_vocabulary]="src/untwine/study/vocabulary.py|tests/study/test_analyses.py tests/study/test_analyses_cells.py tests/study/test_vocabulary.py"
  [study_udr]="src/untwine/study/udr.py|tests/study/test_udr_cell.py"
  [study_files]="src/untwine/study/files.py|tests/study/test_files.py"
  [study_tasks]="src/untwine/study/tasks.py|tests/study/test_tasks_worker.py"
  [study_events]="src/untwine/study/events.py|tests/study/test_events.py"
  [study_runner]="src/untwine/study/runner.py|tests/study/test_runner.py"
  [study_worker]="src/untwine/study/worker.py|tests/study/test_tasks_worker.py"
  [study_executors]="src/untwine/study/executors.py|tests/study/test_executors.py"
  [study_plan]="src/untwine/study/plan.py|tests/study/test_plan.py"
  [study_presets]="src/untwine/study/presets.py|tests/study/test_presets.py"
  # quantized latents and their metrics (issue 26)
  [models_qlae]="src/untwine/models/qlae.py|tests/models/test_qlae.py"
  [metrics_infomec]="src/untwine/metrics/infomec.py|tests/metrics/test_infomec.py"
  [metrics_dci_es]="src/untwine/metrics/dci_es.py|tests/metrics/test_dci_es.py"
  [train_make_optimizer]="src/untwine/train/__init__.py|tests/models/test_qlae.py||untwine.train.x_make_optimizer__mutmut_*"
  # the command-line test runs untwine in a child process, where mutmut records no test of any function: left out
  [models_tripod]="src/untwine/models/tripod.py|tests/models/test_tripod.py|not command_line"
  [nets]="src/untwine/nets.py|tests/test_nets.py"
  # weak supervision (issue 25)
  [weak]="src/untwine/models/weak.py|tests/models/test_weak.py|not keeps_that and not held_out"
  [pairs]="src/untwine/data/pairs.py|tests/data/test_pairs.py"
  # the trainer's paired steps only: the functions that choose pairs and labels and draw the batches
  # the held-out pair loss and the scoring path that records it
  [runs_deterministic]="src/untwine/runs.py|tests/test_runs_deterministic.py||untwine.runs.x_unscored__mutmut_* untwine.runs.x_skipped_metrics__mutmut_* untwine.runs.x_is_deterministic__mutmut_*"
  [runs_pairs]="src/untwine/runs.py|tests/models/test_weak.py tests/study/test_status.py tests/study/test_study_run.py tests/test_runs.py|held_out or weak or score|untwine.runs.x_pair_loss__mutmut_* untwine.runs.x_score_run__mutmut_*"
  [train_pairs]="src/untwine/train/__init__.py|tests/models/test_weak.py tests/test_train.py tests/data/test_pairs.py tests/data/test_sampling.py||untwine.train.x__pairs_drawn__mutmut_* untwine.train.x_pair_labels__mutmut_* untwine.train.x_draw_batch__mutmut_* untwine.train.xǁ_Prefetchǁ__init____mutmut_*"
)
ORDER=(estimators beta_tcvae factor_vae decomposition dip_vae annealed_vae beta_vae autoencoder priors models_init vae
       elbo mig_exact sparsity udr perturb_patterns perturb_datasets perturb_selection perturb_files
       study_index study_results study_state study_spec checkpoint run_files runs
       study_analyses study_table study_findings study_vocabulary study_udr study_files study_tasks study_events
       study_runner study_worker study_executors study_plan study_presets weak pairs train_pairs runs_pairs runs_deterministic
       models_qlae metrics_infomec metrics_dci_es train_make_optimizer models_tripod nets)

if [ "$#" -gt 0 ]; then ORDER=("$@"); fi

for module in "${ORDER[@]}"; do
  spec=${MODULES[$module]:-}
  # MUTATION_SPEC replaces the spec of the one module named (to try another test selection before writing it here)
  if [ -n "${MUTATION_SPEC:-}" ]; then
    if [ "${#ORDER[@]}" -ne 1 ]; then echo "MUTATION_SPEC applies to one module: name exactly one" >&2; exit 2; fi
    spec=$MUTATION_SPEC
  fi
  if [ -z "$spec" ]; then
    echo "unknown module $module; known: ${!MODULES[*]}" >&2
    exit 2
  fi
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  cp -r "$ROOT/src" "$ROOT/tests" "$ROOT/pyproject.toml" "$scratch/"
  find "$scratch" -name __pycache__ -prune -exec rm -rf {} +
  # the module's own [tool.mutmut] section: mutate one file, run only its tests
  "$PYTHON" - "$scratch/pyproject.toml" "$spec" "$scratch/.pytest-tmp" <<'PY'
import json, sys
path, spec, basetemp = sys.argv[1:4]
parts = spec.split("|")
target, tests = parts[0], parts[1].split()
selection = tests + (["-k", parts[2]] if len(parts) > 2 and parts[2] else [])
with open(path, "a") as handle:
    handle.write("\n[tool.mutmut]\n")
    handle.write('source_paths = ["src"]\n')
    handle.write(f"only_mutate = {json.dumps([target])}\n")
    handle.write(f"pytest_add_cli_args_test_selection = {json.dumps(selection)}\n")
    # one temporary directory, emptied by each forked test run and removed with the scratch copy (pytest's own
    # numbered directories are never cleaned up across mutmut's forks: tens of GB in a long run)
    handle.write(f'pytest_add_cli_args = {json.dumps(["-p", "no:cacheprovider", "--basetemp", basetemp])}\n')
PY
  echo "== $module: ${spec//|/ against }"
  start=$(date +%s)
  (
    cd "$scratch"
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    names=$(echo "$spec" | cut -s -d'|' -f4)
    # shellcheck disable=SC2086  # the names are globs for mutmut, not for the shell: set -f keeps them
    (set -f; timeout "$TIMEOUT" "$PYTHON" -m mutmut run --max-children 1 $names > "$OUT/$module.log" 2>&1) || true
    "$PYTHON" - "$module" "${spec%%|*}" "$OUT" "$(( $(date +%s) - start ))" <<'PY'
import re, subprocess, sys
module, path, out, seconds = sys.argv[1:5]
listing = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True,
                         text=True).stdout
statuses = dict(re.findall(r"^\s*(\S+__mutmut_\d+): (.+?)\s*$", listing, flags=re.M))
counts = {}
for status in statuses.values():
    counts[status] = counts.get(status, 0) + 1
summary = f"{module} ({path}): {len(statuses)} mutants, " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
summary += f"; {seconds} s"
print(summary)
open(f"{out}/{module}.txt", "w").write(summary + "\n")
with open(f"{out}/{module}-survivors.diff", "w") as handle:
    for name, status in statuses.items():
        if status != "killed" and status != "not checked":  # a named run leaves the others unchecked
            shown = subprocess.run([sys.executable, "-m", "mutmut", "show", name], capture_output=True,
                                   text=True).stdout
            handle.write(f"# {name}: {status}\n{shown}\n")
PY
  )
  rm -rf "$scratch"
  trap - EXIT
done
