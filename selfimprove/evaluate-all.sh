#!/usr/bin/env bash
# Test-time supervision: evaluate the actor of every self-improvement iteration, with and without
# the critique model, and write results.json, plots and report.md.
#
#   response only       greedy accuracy; Pass@K and MV@K, K = 1, 2, 4, ..., sample_num
#   parallel            every sample critiqued once and refined once (oracle / refine-all / verifier)
#   sequential          MV_NUM rounds of critique -> refine on SEQUENTIAL_CHAINS chains (final answer, both votes)
#   critic metrics      discrimination, F1, helpfulness; compute-matched MV; per difficulty level
#
# The released evaluate-all.sh critiques and refines every answer (TEST_KNOW_ANSWER=0, realistic) with
# greedy decoding: test_temperature=0 sample_num=1. Oracle runs (TEST_KNOW_ANSWER=1, refine only the
# answers known to be wrong) are upper bounds and are labelled so in results.json and report.md. Every knob is an environment variable
# or a KEY=VALUE line of the PRESET file (the environment wins); defaults and checks live in
# selfimprove/core/config.py. inference-all.sh exports its own (datasets, models, EXP_NUM,
# ITER_NUM, engine settings) to this script.
#
# ---------------------------------------------------------------------------------- knobs
#   EXP_NUM                   experiment: evaluates runs/$EXP_NUM/iter_k/actor
#   RUNS_DIR                  where experiments live (default: runs/)
#   ITER_NUM                  evaluate iterations 0..ITER_NUM
#   SEED                      sampling seed
#   LOG_LEVEL                 message level: DEBUG, INFO, WARNING, ERROR
#   PYTHON                    interpreter with the inference stack (default: .venv/bin/python)
#   DATA_DIR                  folder of local datasets (default: data/)
#   PLAN                      1: print what the run would do (steps, prompts, token budgets, training, GPU-hours), write runs/$EXP_NUM/plan.json, stop
#   PLAN_GPUS                 GPUs per node the plan assumes (0: the GPUs visible here, or 8 when none is)
#   PLAN_TOKENS_PER_S         generated tokens per second per GPU behind the plan's GPU-hour estimate
#   PLAN_TRAIN_TOKENS_PER_S   trained tokens per second per GPU behind the plan's GPU-hour estimate
#   test_dataset_name         evaluation datasets (space-separated specs; default: dataset_name, else synthetic)
#   test_limit                test questions per dataset (empty = all)
#   sample_num                N: samples per question for Pass@K / MV@K (response pool)
#   temperature               sampling temperature of the actor (inherited from inference-all.sh)
#   test_temperature          temperature of the pool (default: temperature; greedy answers use 0)
#   top_p                     nucleus sampling of the pool
#   max_tokens                new tokens per solution
#   critic_max_tokens         new tokens per critique
#   model_name                base model (evaluated as "base" with EVAL_BASE=1)
#   model_type                Instruct or Base prompt format of the actor
#   critic_model_name         critique model (default: model_name)
#   critic_model_type         prompt format of the critic
#   CRITIC_BASE_URL           OpenAI-compatible endpoint for the critic (key in $OPENAI_API_KEY)
#   ENGINE                    generation engine: auto, vllm, hf, ray (docs/scaling.md)
#   RAY_ADDRESS               ENGINE=ray: Ray cluster to join (host:port, auto); empty: start one here
#   RAY_REPLICAS              ENGINE=ray: model replicas (0: one per TP_SIZE GPUs, or per node)
#   RAY_ENGINE                ENGINE=ray: engine in each replica: auto, hf, vllm
#   TP_SIZE                   vLLM tensor-parallel GPUs per engine
#   MAX_MODEL_LEN             context length reserved by the engine
#   GPU_MEMORY_UTILIZATION    GPU memory share per vLLM engine (the actor and the critic share the GPUs)
#   CHUNK_SIZE                items generated between two checkpoint appends
#   GRADER                    answer grader
#   VOTING                    majority vote: equivalence or exact (identical answer strings, as released); the other reported beside
#   EVAL_ITERS                or exactly these iterations (space-separated), e.g. "1"
#   EVAL_BASE                 also evaluate the untrained base model
#   ACTOR_MODELS              or evaluate these model folders instead of a run's actors
#   TEST_USE_CRITIC           run the critique methods
#   MV_NUM                    sequential critique-refine rounds
#   TEST_KNOW_ANSWER          1: oracle (refine only answers known to be wrong)
#   SEQUENTIAL_MODE           oracle | all | verifier (default: from TEST_KNOW_ANSWER)
#   SEQUENTIAL_CHAINS         sequential chains per question: 1 from the greedy answer, K > 1 from the first K pool samples
#   ONLY_FINAL_SEQUENTIAL     1: report only the final round's answer as the sequential headline (no vote over rounds)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# check every knob and the actors, lock runs/$EXP_NUM (unless inference-all.sh holds it), record the configuration
source "${ROOT}/selfimprove/driver-begin.sh" evaluate

critic_args=(--critic-model "${critic_model_name}" --critic-type "${critic_model_type}")
if [ -n "${CRITIC_BASE_URL}" ]; then critic_args+=(--critic-engine openai --critic-base-url "${CRITIC_BASE_URL}"); fi
questions="$(py layout "${RUN}" test)"

py prepare --dataset ${test_dataset_name} --split test ${test_limit:+--limit "${test_limit}"} --seed "${SEED}" --run-dir "${RUN}"
results=()
for entry in "${actors[@]}"; do
  label="${entry%%=*}"; path="${entry#*=}"
  echo "== evaluating ${label} (${path})"
  out_dir="$(py layout "${RUN}" eval_dir --label "${label}")"
  py evaluate --questions "${questions}" --out-dir "${out_dir}" --label "${label}" \
    --actor-model "${path}" --actor-type "${model_type}" "${critic_args[@]}" --use-critic "${TEST_USE_CRITIC}" \
    --pool-size "${sample_num}" --temperature "${test_temperature}" --max-tokens "${max_tokens}" \
    --critic-max-tokens "${critic_max_tokens}" --rounds "${MV_NUM}" --sequential-mode "${SEQUENTIAL_MODE}" \
    --sequential-chains "${SEQUENTIAL_CHAINS}" --only-final-sequential "${ONLY_FINAL_SEQUENTIAL}" --max-model-len "${MAX_MODEL_LEN}" --run-dir "${RUN}"
  results+=(--results "$(py layout "${RUN}" results --label "${label}")")
done
py report "${results[@]}" --out "$(py layout "${RUN}" eval_root)"
echo "report: $(py layout "${RUN}" report)"
