#!/usr/bin/env bash
# Test-time supervision: evaluate the actor of every self-improvement iteration, with and without
# the critique model, and write results.json, plots and report.md.
#
#   response only       greedy accuracy; Pass@K and MV@K, K = 1, 2, 4, ..., sample_num
#   parallel            every sample critiqued once and refined once (oracle / refine-all / verifier)
#   sequential          MV_NUM rounds of critique -> refine on one chain (final answer and chain MV)
#   critic metrics      discrimination, F1, helpfulness; compute-matched MV; per difficulty level
#
# The released code's flow is TEST_KNOW_ANSWER=1 sample_num=1 temperature=0 (oracle, greedy);
# the defaults here are the realistic, non-oracle setting. Every knob can be set from the
# environment; inference-all.sh exports its own (dataset, models, EXP_NUM, ITER_NUM) to this script.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${PRESET:-}" ]; then source "${PRESET}"; fi

# ---------------------------------------------------------------------------------- knobs
: "${test_dataset_name:=${dataset_name:-synthetic}}" # evaluation datasets (space-separated specs)
: "${test_limit:=12}"                   # test questions per dataset (empty = all)
: "${sample_num:=4}"                    # N: samples per question for Pass@K / MV@K (response pool)
: "${temperature:=0.7}"                 # temperature of the pool (greedy answers use 0)
: "${max_tokens:=256}"                  # new tokens per solution
: "${critic_max_tokens:=384}"           # new tokens per critique
: "${model_name:=${ROOT}/models/SmolLM2-135M-Instruct}"  # base model (evaluated as iteration "base" with EVAL_BASE=1)
: "${model_type:=Instruct}"             # Instruct or Base prompt format of the actor
: "${critic_model_name:=${model_name}}" # critique model
: "${critic_model_type:=auto}"          # prompt format of the critic
: "${CRITIC_BASE_URL:=}"                # OpenAI-compatible endpoint for the critic (key in $OPENAI_API_KEY)
: "${EXP_NUM:=demo}"                    # experiment: evaluates runs/${EXP_NUM}/iter_k/actor
: "${ITER_NUM:=1}"                      # evaluate iterations 0..ITER_NUM
: "${EVAL_ITERS:=}"                     # or exactly these iterations (space-separated), e.g. "1"
: "${EVAL_BASE:=0}"                     # also evaluate the untrained base model
: "${ACTOR_MODELS:=}"                   # or evaluate these model folders instead of a run's actors
: "${TEST_USE_CRITIC:=1}"               # run the critique methods
: "${MV_NUM:=2}"                        # sequential critique-refine rounds
: "${TEST_KNOW_ANSWER:=0}"              # 1: oracle (refine only answers known to be wrong)
: "${SEQUENTIAL_MODE:=}"                # oracle | all | verifier (default: from TEST_KNOW_ANSWER)
: "${ONLY_FINAL_SEQUENTIAL:=0}"         # 1: headline the chain's final answer, not the chain's MV (both are kept)
: "${GRADER:=default}"                  # answer grader
: "${ENGINE:=auto}"                     # generation engine: auto, vllm, hf
: "${TP_SIZE:=1}"                       # vLLM tensor-parallel GPUs per engine
: "${MAX_MODEL_LEN:=2048}"              # context length reserved by the engine
: "${GPU_MEMORY_UTILIZATION:=0.45}"     # per engine: the actor and the critic share the GPUs
: "${SEED:=0}"
: "${RUNS_DIR:=${ROOT}/runs}"
: "${PYTHON:=${ROOT}/.venv/bin/python}"
export ENGINE TP_SIZE MAX_MODEL_LEN GPU_MEMORY_UTILIZATION SEED GRADER PYTHONPATH="${ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
export VLLM_CPU_NUM_OF_RESERVED_CPU="${VLLM_CPU_NUM_OF_RESERVED_CPU:-0}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" \
  VLLM_LOGGING_LEVEL="${VLLM_LOGGING_LEVEL:-WARNING}"

RUN="${RUNS_DIR}/${EXP_NUM}"
py() { "${PYTHON}" -m "selfimprove.$@"; }
for v in TEST_USE_CRITIC TEST_KNOW_ANSWER ONLY_FINAL_SEQUENTIAL EVAL_BASE; do
  case "${!v}" in 0|1) ;; *) echo "error: $v must be 0 or 1, not '${!v}'" >&2; exit 2;; esac; done
if [ -z "${SEQUENTIAL_MODE}" ]; then SEQUENTIAL_MODE=$([ "${TEST_KNOW_ANSWER}" -eq 1 ] && echo oracle || echo all); fi
[ -x "${PYTHON}" ] || { echo "error: ${PYTHON} not found; run 'bash scripts/setup_env.sh'" >&2; exit 2; }
py prepare --check --dataset ${test_dataset_name} --split test
critic_args=(--critic-model "${critic_model_name}" --critic-type "${critic_model_type}")
[ -n "${CRITIC_BASE_URL}" ] && critic_args+=(--critic-engine openai --critic-base-url "${CRITIC_BASE_URL}")

# the actors to evaluate: label=path
actors=()
if [ -n "${ACTOR_MODELS}" ]; then
  for m in ${ACTOR_MODELS}; do actors+=("$(basename "$m")=$m"); done
else
  [ "${EVAL_BASE}" -eq 1 ] && actors+=("base=${model_name}")
  iters="${EVAL_ITERS:-$(seq -s ' ' 0 "${ITER_NUM}")}"
  for k in ${iters}; do
    [ -f "${RUN}/iter_${k}/actor/config.json" ] || { echo "error: ${RUN}/iter_${k}/actor not found (run inference-all.sh first)" >&2; exit 2; }
    actors+=("iter_${k}=${RUN}/iter_${k}/actor")
  done
fi

mkdir -p "${RUN}/data" "${RUN}/eval"
py prepare --dataset ${test_dataset_name} --split test ${test_limit:+--limit "${test_limit}"} --seed "${SEED}" \
  --out "${RUN}/data/test.jsonl" --run-dir "${RUN}"
results=()
for entry in "${actors[@]}"; do
  label="${entry%%=*}"; path="${entry#*=}"
  echo "== evaluating ${label} (${path})"
  py evaluate --questions "${RUN}/data/test.jsonl" --out-dir "${RUN}/eval/${label}" --label "${label}" \
    --actor-model "${path}" --actor-type "${model_type}" "${critic_args[@]}" --use-critic "${TEST_USE_CRITIC}" \
    --pool-size "${sample_num}" --temperature "${temperature}" --max-tokens "${max_tokens}" \
    --critic-max-tokens "${critic_max_tokens}" --rounds "${MV_NUM}" --sequential-mode "${SEQUENTIAL_MODE}" \
    --only-final-sequential "${ONLY_FINAL_SEQUENTIAL}" --max-model-len "${MAX_MODEL_LEN}" --run-dir "${RUN}"
  results+=(--results "${RUN}/eval/${label}/results.json")
done
py report "${results[@]}" --out "${RUN}/eval"
echo "report: ${RUN}/eval/report.md"
