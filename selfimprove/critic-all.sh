#!/usr/bin/env bash
# The critique model (AutoMathCritique + critic fine-tuning + Table 2 of arXiv 2411.16579).
#
#   questions      train and held-out test questions          -> critic/data/{train,test}.jsonl
#   1 paths        flawed reasoning paths (RG1, RG2, RG3, ref)  -> critic/01_flawed_paths.jsonl
#   2 annotate     step-level critiques (programmatic / model)  -> critic/02_annotations.jsonl
#   3 MC filter    refine N times, keep if N_correct >= k       -> critic/03_mc_filter.jsonl (+ 03_mc_refinements.jsonl)
#   4 dataset      LLaMA-Factory data + entry + statistics      -> critic/04_dataset.json, dataset_info.json, stats.json
#   5 train        fine-tune the critic                         -> critic/model/
#   6 evaluate     critics on held-out responses (Table 2)      -> critic/eval/{paths,responses}.jsonl, <critic>/,
#                                                                  results.json, report.md, critics.png
#
# Every knob below can be set from the environment, e.g.
#   critic_train_limit=200 MC_N=4 EXP_NUM=exp1 bash selfimprove/critic-all.sh
# or from a preset file of KEY=VALUE lines: PRESET=file bash selfimprove/critic-all.sh (the environment wins).
# Defaults are the embedded demo: SmolLM2-135M-Instruct as actor and critic, easy synthetic problems,
# the programmatic annotator, CPU sizes. Rerunning the same command continues an interrupted run:
# finished steps are checked and skipped. The trained critic is runs/$EXP_NUM/critic/model/; point
# critic_model_name of the other drivers at it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${PRESET:-}" ]; then
  [ -f "${PRESET}" ] || { echo "error: PRESET ${PRESET} not found" >&2; exit 2; }
  while IFS='=' read -r k v; do  # KEY=VALUE lines; values already in the environment win
    [[ "${k}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    if [ -z "${!k+x}" ]; then v="${v%\"}"; v="${v#\"}"; export "${k}=${v}"; fi
  done < <(grep -v '^[[:space:]]*#' "${PRESET}")
fi

# ---------------------------------------------------------------------------------- knobs
: "${EXP_NUM:=demo}"                       # experiment: runs/$EXP_NUM/critic/
: "${RUNS_DIR:=${ROOT}/runs}"              # where experiments live
: "${PYTHON:=${ROOT}/.venv/bin/python}"    # interpreter with the inference stack
: "${SEED:=0}"                             # sampling, subset and insertion seed
: "${critic_dataset_name:=synthetic-easy}" # questions the critique data is built from (dataset specs)
: "${critic_test_dataset_name:=${critic_dataset_name}}"  # held-out questions for the evaluation
: "${critic_train_limit:=32}"             # training questions (empty = all)
: "${critic_test_limit:=24}"               # held-out questions (empty = all)
: "${model_name:=${ROOT}/models/SmolLM2-135M-Instruct}"  # the actor: writes flawed paths, refines
: "${model_type:=Instruct}"                # Instruct (chat template, sharegpt) or Base (Human:/Assistant:, alpaca)
: "${critic_base_model:=${model_name}}"    # the model the critic is fine-tuned from
: "${critic_model_type:=${model_type}}"    # its prompt format
: "${template:=smollm2}"                   # LLaMA-Factory template of the critic's base model
: "${default_system=You are a helpful AI assistant named SmolLM, trained by Hugging Face}"  # its chat template's system line
: "${STRATEGIES:=rg1,rg3,reference}"       # flawed-path strategies: rg1 rg2 rg3 reference (comma-separated)
: "${PATH_SAMPLES:=1}"                     # RG1 samples per question (RG2 continues each)
: "${RG2_TEMPERATURE:=1.0}"                # RG2: temperature after the prefix
: "${RG3_PER_QUESTION:=2}"                 # RG3 paths per question
: "${INSERTER:=programmatic}"              # RG3 mistakes: programmatic (exact) or model
: "${INSERTER_MODEL:=${model_name}}"       # RG3 with INSERTER=model: the second model
: "${MISTAKE_TYPES:=calculation error,wrong operation,misused quantity,skipped step,logic error}"
: "${KEEP_CORRECT:=1}"                     # correct RG1/RG2 paths kept per question
: "${MAX_STEPS:=6}"                        # paths with more lines are left out
: "${ANNOTATOR:=programmatic}"             # programmatic, or model (ANNOTATOR_MODEL)
: "${ANNOTATOR_MODEL:=}"                   # annotating model: folder, hub id, or API model with ANNOTATOR_BASE_URL
: "${ANNOTATOR_BASE_URL:=}"                # OpenAI-compatible endpoint of the annotator (key in $OPENAI_API_KEY)
: "${MC_N:=2}"                             # Monte-Carlo filter: refinements per critique
: "${MC_K:=1}"                             # ... keep the critique when at least k are correct (0: no refinement)
: "${BALANCE:=1}"                          # larger verdict class at most BALANCE x the smaller (0: off)
: "${temperature:=0.7}"                    # actor sampling temperature (paths, MC refinements)
: "${max_tokens:=96}"                     # new tokens per actor solution or continuation
: "${critic_max_tokens:=320}"              # new tokens per critique (annotating model, evaluated critics)
: "${PROFILE:=$( (nvidia-smi -L >/dev/null 2>&1 && echo gpu) || echo cpu)}"  # training profile
: "${CRITIC_TRAIN_ARGS=num_train_epochs=3 max_steps=-1 per_device_train_batch_size=4 learning_rate=1e-4 lr_scheduler_type=constant_with_warmup warmup_steps=3 cutoff_len=768}"  # LLaMA-Factory overrides
: "${EVAL_PER_CLASS:=12}"                  # held-out responses: this many correct and as many wrong
: "${EVAL_CRITICS:=none base trained programmatic}"  # critics compared; also api (CRITIC_API_MODEL)
: "${CRITIC_API_MODEL:=}"                  # an API critic for the comparison (with CRITIC_BASE_URL)
: "${CRITIC_BASE_URL:=}"                   # its OpenAI-compatible endpoint (key in $OPENAI_API_KEY)
: "${PROCESSBENCH:=}"                      # also score the model critics on ProcessBench: a local file/folder, or hub ("" = off)
: "${PROCESSBENCH_SPLIT:=gsm8k}"           # gsm8k, math, olympiadbench, omnimath
: "${PROCESSBENCH_LIMIT:=40}"              # ProcessBench rows (seeded subset; 0 = all)
: "${ENGINE:=auto}"                        # generation engine: auto, vllm, hf
: "${MAX_MODEL_LEN:=2048}"                 # context length reserved by the engine
: "${GRADER:=default}"                     # answer grader
export ENGINE SEED GRADER MAX_MODEL_LEN PROFILE
export VLLM_CPU_NUM_OF_RESERVED_CPU="${VLLM_CPU_NUM_OF_RESERVED_CPU:-0}" \
  VLLM_LOGGING_LEVEL="${VLLM_LOGGING_LEVEL:-WARNING}"

# ---------------------------------------------------------------------------------- checks
die() { echo "error: $*" >&2; exit 2; }
[ -x "${PYTHON}" ] || die "${PYTHON} not found; run 'bash scripts/setup_env.sh' (or make demo)"
[[ "${EXP_NUM}" =~ ^[A-Za-z0-9._-]+$ ]] || die "EXP_NUM must be letters, digits, '.', '_' or '-', not '${EXP_NUM}'"
nat() { [[ "$1" =~ ^[0-9]+$ ]] || die "$2 must be a whole number, not '$1'"; }
for v in PROCESSBENCH_LIMIT SEED PATH_SAMPLES RG3_PER_QUESTION KEEP_CORRECT MAX_STEPS MC_N MC_K max_tokens critic_max_tokens EVAL_PER_CLASS MAX_MODEL_LEN; do nat "${!v}" "$v"; done
for v in critic_train_limit critic_test_limit; do [ -z "${!v}" ] || nat "${!v}" "$v"; done
[ "${MC_N}" -ge 1 ] && [ "${MC_K}" -le "${MC_N}" ] || die "MC_N must be at least 1 and MC_K at most MC_N (got ${MC_N}, ${MC_K})"
case "${model_type}" in Instruct) sft_format=sharegpt;; Base) sft_format=alpaca;; *) die "model_type must be Instruct or Base, not '${model_type}'";; esac
case "${critic_model_type}" in Instruct) critic_format=sharegpt;; Base) critic_format=alpaca;; *) die "critic_model_type must be Instruct or Base, not '${critic_model_type}'";; esac
case "${INSERTER}" in programmatic|model) ;; *) die "INSERTER must be programmatic or model, not '${INSERTER}'";; esac
case "${ANNOTATOR}" in programmatic) ;; model) [ -n "${ANNOTATOR_MODEL}" ] || die "ANNOTATOR=model needs ANNOTATOR_MODEL";; *) die "ANNOTATOR must be programmatic or model, not '${ANNOTATOR}'";; esac
case "${PROFILE}" in cpu|gpu) ;; *) die "PROFILE must be cpu or gpu, not '${PROFILE}'";; esac
[[ "${BALANCE}" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "BALANCE must be a number >= 0, not '${BALANCE}'"
for s in ${STRATEGIES//,/ }; do case "$s" in rg1|rg2|rg3|reference) ;; *) die "STRATEGIES: unknown strategy '$s' (rg1, rg2, rg3, reference)";; esac; done
for c in ${EVAL_CRITICS}; do case "$c" in none|base|trained|programmatic|api) ;; *) die "EVAL_CRITICS: unknown critic '$c' (none base trained programmatic api)";; esac; done
if [[ " ${EVAL_CRITICS} " == *" api "* ]] && { [ -z "${CRITIC_API_MODEL}" ] || [ -z "${CRITIC_BASE_URL}" ]; }; then
  die "EVAL_CRITICS has api: set CRITIC_API_MODEL and CRITIC_BASE_URL"; fi
for m in "${model_name}" "${critic_base_model}"; do
  if [[ "$m" == /* || "$m" == .* ]] && [ ! -f "$m/config.json" ]; then die "model $m not found (no config.json)"; fi; done

RUN="${RUNS_DIR}/${EXP_NUM}"
C="${RUN}/critic"
py() { "${PYTHON}" -m "selfimprove.$@"; }
py prepare --check --dataset ${critic_dataset_name} --split train
py prepare --check --dataset ${critic_test_dataset_name} --split test
mkdir -p "${C}/data" "${C}/eval"
actor=(--actor-model "${model_name}" --actor-type "${model_type}" --max-model-len "${MAX_MODEL_LEN}")
paths_args=(--strategies "${STRATEGIES}" --samples "${PATH_SAMPLES}" --rg2-temperature "${RG2_TEMPERATURE}"
  --rg3-per-question "${RG3_PER_QUESTION}" --inserter "${INSERTER}" --inserter-model "${INSERTER_MODEL}"
  --mistake-types "${MISTAKE_TYPES}" --keep-correct "${KEEP_CORRECT}" --max-steps "${MAX_STEPS}"
  --temperature "${temperature}" --max-tokens "${max_tokens}")
train_sets=(); for kv in ${CRITIC_TRAIN_ARGS}; do train_sets+=(--set "${kv}"); done

echo "== critique data (run files: ${C})"
py prepare --dataset ${critic_dataset_name} --split train ${critic_train_limit:+--limit "${critic_train_limit}"} --seed "${SEED}" \
  --out "${C}/data/train.jsonl" --run-dir "${RUN}" --step critic/00_questions_train
py prepare --dataset ${critic_test_dataset_name} --split test ${critic_test_limit:+--limit "${critic_test_limit}"} --seed "${SEED}" \
  --out "${C}/data/test.jsonl" --run-dir "${RUN}" --step critic/00_questions_test
py critic_paths --questions "${C}/data/train.jsonl" --out "${C}/01_flawed_paths.jsonl" "${actor[@]}" "${paths_args[@]}" \
  --run-dir "${RUN}" --step critic/01_flawed_paths
annot=(--annotator "${ANNOTATOR}")
if [ "${ANNOTATOR}" = model ]; then
  annot+=(--annotator-model "${ANNOTATOR_MODEL}" --max-tokens "${critic_max_tokens}" --max-model-len "${MAX_MODEL_LEN}")
  if [ -n "${ANNOTATOR_BASE_URL}" ]; then annot+=(--annotator-engine openai --annotator-base-url "${ANNOTATOR_BASE_URL}"); fi
fi
py critic_annotate --paths "${C}/01_flawed_paths.jsonl" --out "${C}/02_annotations.jsonl" "${annot[@]}" \
  --run-dir "${RUN}" --step critic/02_annotations
py critic_filter --paths "${C}/01_flawed_paths.jsonl" --annotations "${C}/02_annotations.jsonl" \
  --out "${C}/03_mc_filter.jsonl" --refinements "${C}/03_mc_refinements.jsonl" "${actor[@]}" \
  --n "${MC_N}" --k "${MC_K}" --temperature "${temperature}" --max-tokens "${max_tokens}" --run-dir "${RUN}" --step critic/03_mc_filter
eos=(); if [ "${critic_format}" = alpaca ]; then eos=(--base-model "${critic_base_model}"); fi
py critic_dataset --paths "${C}/01_flawed_paths.jsonl" --annotations "${C}/02_annotations.jsonl" \
  --decisions "${C}/03_mc_filter.jsonl" --out-dir "${C}" --format "${critic_format}" --balance "${BALANCE}" "${eos[@]}" \
  --run-dir "${RUN}" --step critic/04_dataset

echo "== critic training"
py train --role critic --run-dir "${RUN}" --dataset-file "${C}/04_dataset.json" --out-dir "${C}/model" \
  --base-model "${critic_base_model}" --template "${template}" --format "${critic_format}" --profile "${PROFILE}" \
  ${default_system:+--default-system "${default_system}"} "${train_sets[@]}" --step critic/05_train

echo "== critic evaluation"
critics=()
for c in ${EVAL_CRITICS}; do
  case "$c" in
    none|programmatic) critics+=(--critic "$c=$c");;
    base) critics+=(--critic "base=${critic_base_model}");;
    trained) critics+=(--critic "trained=${C}/model");;
    api) critics+=(--critic "api=api:${CRITIC_API_MODEL}" --critic-base-url "${CRITIC_BASE_URL}");;
  esac
done
if [ -n "${PROCESSBENCH}" ]; then
  critics+=(--processbench "${PROCESSBENCH}" --processbench-split "${PROCESSBENCH_SPLIT}" --processbench-limit "${PROCESSBENCH_LIMIT}"); fi
# held-out responses: the same strategies on the test questions (critic/eval/paths.jsonl), balanced
py critic_eval --questions "${C}/data/test.jsonl" --out-dir "${C}/eval" "${critics[@]}" "${actor[@]}" "${paths_args[@]}" \
  --critic-type "${critic_model_type}" --per-class "${EVAL_PER_CLASS}" --critic-max-tokens "${critic_max_tokens}" \
  --run-dir "${RUN}" --step critic/06_eval
cat "${C}/eval/report.md" | sed -n '/^| critic/,/^$/p'
echo "critique data: ${C}/04_dataset.json (statistics: ${C}/stats.json)"
echo "trained critic: ${C}/model (set critic_model_name=${C}/model in the other drivers)"
echo "report: ${C}/eval/report.md"
