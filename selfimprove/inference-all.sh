#!/usr/bin/env bash
# Critique-in-the-loop self-improvement (Algorithm 1 of arXiv 2411.16579).
#
#   iteration 0:  SFT the base model on reference solutions (+ critique->refinement examples)
#   iteration k:  sample N solutions per training question with actor k-1, keep the correct ones,
#                 critique the wrong ones, refine them, keep refinements that became correct,
#                 SFT the base model on the result -> actor k
#
# Every knob below can be set from the environment, e.g.
#   ITER_NUM=2 sample_num=4 EXP_NUM=exp1 bash selfimprove/inference-all.sh
# or from a preset file: PRESET=selfimprove/presets/llama3-8b.env bash selfimprove/inference-all.sh
# Defaults are the embedded demo (SmolLM2-135M-Instruct, synthetic problems, CPU-sized).
# Rerunning the same command continues an interrupted run: finished steps are skipped.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${PRESET:-}" ]; then source "${PRESET}"; fi

# ---------------------------------------------------------------------------------- knobs
: "${dataset_name:=synthetic}"          # training datasets (space-separated): synthetic gsm8k math math500 file:...
: "${test_dataset_name:=${dataset_name}}" # evaluation datasets
: "${train_limit:=24}"                  # training questions per dataset (empty = all)
: "${test_limit:=12}"                   # test questions per dataset (empty = all)
: "${sample_num:=2}"                    # N: solutions sampled per training question
: "${temperature:=0.7}"                 # sampling temperature of the actor
: "${reserved_new_data:=1}"             # at most this many kept refinements per question
: "${refine_num:=${sample_num}}"        # refinements per critique
: "${max_tokens:=256}"                  # new tokens per solution
: "${critic_max_tokens:=384}"           # new tokens per critique
: "${model_name:=${ROOT}/models/SmolLM2-135M-Instruct}"  # base model; every iteration trains from it
: "${model_type:=Instruct}"             # Instruct (chat template, sharegpt SFT) or Base (Human:/Assistant:, alpaca SFT)
: "${template:=smollm2}"                # LLaMA-Factory template matching the model (default for Base models)
: "${default_system=You are a helpful AI assistant named SmolLM, trained by Hugging Face}"  # system prompt of the model's own chat template ("" = the template's)
: "${critic_model_name:=${model_name}}" # critique model (a folder, a hub id, or an API model with CRITIC_BASE_URL)
: "${critic_model_type:=auto}"          # prompt format of the critic
: "${CRITIC_BASE_URL:=}"                # OpenAI-compatible endpoint for the critic (key in $OPENAI_API_KEY)
: "${ITER_NUM:=1}"                      # self-improvement iterations after iteration 0
: "${EXP_NUM:=demo}"                    # experiment name: runs/${EXP_NUM}/
: "${USE_CRITIC:=1}"                    # critique + refine the wrong samples, train on kept refinements
: "${USE_ORIGINAL:=1}"                  # keep the iteration-0 reference data in every iteration
: "${USE_PREVIOUS:=0}"                  # train on the sampled data of all iterations so far
: "${USE_SELFIMPROVE_FEEDBACK:=0}"      # also train on (solution, critique) -> refinement examples
: "${USE_GPT4_FEEDBACK:=1}"             # add FEEDBACK_FILE's critique->refinement examples
: "${FEEDBACK_FILE=$(f="${ROOT}/../shared/data/mathcritique-samples/gsm8k-critique-refine-100.json"; [ -f "$f" ] && echo "$f")}"  # alpaca file of critique->refinement examples ("" = none)
: "${CRITIQUE_WHICH:=incorrect}"        # critique the incorrect samples (or: all)
: "${GRADER:=default}"                  # answer grader: default, mathcritique (seed-faithful), math-verify
: "${ENGINE:=auto}"                     # generation engine: auto, vllm, hf
: "${TP_SIZE:=1}"                       # vLLM tensor-parallel GPUs per engine (engines = GPUs / TP_SIZE)
: "${MAX_MODEL_LEN:=2048}"              # context length reserved by the engine
: "${PROFILE:=$( (nvidia-smi -L >/dev/null 2>&1 && echo gpu) || echo cpu)}"  # training profile: cpu or gpu
: "${TRAIN_ARGS:=}"                     # extra LLaMA-Factory arguments, e.g. "max_steps=20 learning_rate=1e-5"
: "${SEED:=0}"                          # sampling and subset seed
: "${EVALUATE:=1}"                      # run selfimprove/evaluate-all.sh at the end
: "${RUNS_DIR:=${ROOT}/runs}"           # where experiments live
: "${PYTHON:=${ROOT}/.venv/bin/python}" # interpreter with the inference stack
export ENGINE TP_SIZE MAX_MODEL_LEN PROFILE SEED GRADER PYTHONPATH="${ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
export VLLM_CPU_NUM_OF_RESERVED_CPU="${VLLM_CPU_NUM_OF_RESERVED_CPU:-0}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" \
  VLLM_LOGGING_LEVEL="${VLLM_LOGGING_LEVEL:-WARNING}"

RUN="${RUNS_DIR}/${EXP_NUM}"
py() { "${PYTHON}" -m "selfimprove.$@"; }
flag() { case "$1" in 0|1) ;; *) echo "error: $2 must be 0 or 1, not '$1'" >&2; exit 2;; esac; }
for v in USE_CRITIC USE_ORIGINAL USE_PREVIOUS USE_SELFIMPROVE_FEEDBACK USE_GPT4_FEEDBACK EVALUATE; do flag "${!v}" "$v"; done
case "${model_type}" in Instruct) sft_format=sharegpt;; Base) sft_format=alpaca;; *) echo "error: model_type must be Instruct or Base, not '${model_type}'" >&2; exit 2;; esac
[ -x "${PYTHON}" ] || { echo "error: ${PYTHON} not found; run 'bash scripts/setup_env.sh' (or make demo)" >&2; exit 2; }
if [ -n "${FEEDBACK_FILE}" ] && [ ! -f "${FEEDBACK_FILE}" ]; then echo "error: FEEDBACK_FILE ${FEEDBACK_FILE} not found" >&2; exit 2; fi
if [[ "${model_name}" == /* || "${model_name}" == .* ]] && [ ! -f "${model_name}/config.json" ]; then
  echo "error: model ${model_name} not found (run 'bash scripts/setup_env.sh' for the embedded model)" >&2; exit 2; fi
py prepare --check --dataset ${dataset_name} --split train
py prepare --check --dataset ${test_dataset_name} --split test
critic_args=(--critic-model "${critic_model_name}" --critic-type "${critic_model_type}")
[ -n "${CRITIC_BASE_URL}" ] && critic_args+=(--critic-engine openai --critic-base-url "${CRITIC_BASE_URL}")
train_sets=(); for kv in ${TRAIN_ARGS}; do train_sets+=(--set "${kv}"); done
limit() { [ -n "$1" ] && echo "--limit $1"; true; }

mkdir -p "${RUN}/data"
py manifest init "${RUN}" --config "$(printf '{"dataset_name":"%s","sample_num":%s,"temperature":%s,"reserved_new_data":%s,"model_name":"%s","model_type":"%s","template":"%s","critic_model_name":"%s","ITER_NUM":%s,"USE_CRITIC":%s,"USE_ORIGINAL":%s,"USE_PREVIOUS":%s,"USE_SELFIMPROVE_FEEDBACK":%s,"USE_GPT4_FEEDBACK":%s,"GRADER":"%s","PROFILE":"%s","SEED":%s}' \
  "${dataset_name}" "${sample_num}" "${temperature}" "${reserved_new_data}" "${model_name}" "${model_type}" "${template}" "${critic_model_name}" "${ITER_NUM}" "${USE_CRITIC}" "${USE_ORIGINAL}" "${USE_PREVIOUS}" "${USE_SELFIMPROVE_FEEDBACK}" "${USE_GPT4_FEEDBACK}" "${GRADER}" "${PROFILE}" "${SEED}")"
py prepare --dataset ${dataset_name} --split train $(limit "${train_limit}") --seed "${SEED}" --out "${RUN}/data/train.jsonl" --run-dir "${RUN}"
QUESTIONS="${RUN}/data/train.jsonl"

actor="${model_name}"
for ((ITER = 0; ITER <= ITER_NUM; ITER++)); do
  D="${RUN}/iter_${ITER}"; mkdir -p "${D}"
  echo "== iteration ${ITER} (actor: ${actor})"
  if [ "${ITER}" -ge 1 ]; then
    py sample --questions "${QUESTIONS}" --out "${D}/01_samples.jsonl" --actor-model "${actor}" --actor-type "${model_type}" \
      --n "${sample_num}" --temperature "${temperature}" --max-tokens "${max_tokens}" --max-model-len "${MAX_MODEL_LEN}" \
      --run-dir "${RUN}" --step "iter_${ITER}/01_samples"
    if [ "${USE_CRITIC}" -eq 1 ]; then
      py critique --samples "${D}/01_samples.jsonl" --out "${D}/02_critiques.jsonl" --which "${CRITIQUE_WHICH}" "${critic_args[@]}" \
        --temperature 0 --max-tokens "${critic_max_tokens}" --max-model-len "${MAX_MODEL_LEN}" \
        --run-dir "${RUN}" --step "iter_${ITER}/02_critiques"
      py refine --samples "${D}/01_samples.jsonl" --critiques "${D}/02_critiques.jsonl" --questions "${QUESTIONS}" \
        --out "${D}/03_refinements.jsonl" --actor-model "${actor}" --actor-type "${model_type}" \
        --n "${refine_num}" --temperature "${temperature}" --max-tokens "${max_tokens}" --max-model-len "${MAX_MODEL_LEN}" \
        --reserved-new-data "${reserved_new_data}" --run-dir "${RUN}" --step "iter_${ITER}/03_refinements"
    fi
  fi
  py filter --run-dir "${RUN}" --iter "${ITER}" --questions "${QUESTIONS}" --format "${sft_format}" \
    ${FEEDBACK_FILE:+--feedback-file "${FEEDBACK_FILE}"} --use-original "${USE_ORIGINAL}" --use-previous "${USE_PREVIOUS}" \
    --use-critic "${USE_CRITIC}" --use-selfimprove-feedback "${USE_SELFIMPROVE_FEEDBACK}" --use-gpt4-feedback "${USE_GPT4_FEEDBACK}"
  # every iteration fine-tunes the base model (as in the paper), on that iteration's data
  py train --run-dir "${RUN}" --iter "${ITER}" --base-model "${model_name}" --template "${template}" \
    --format "${sft_format}" --profile "${PROFILE}" ${default_system:+--default-system "${default_system}"} "${train_sets[@]}"
  actor="${D}/actor"
done

if [ "${EVALUATE}" -eq 1 ]; then
  # the evaluation sees this run's models, data and engine settings (its own knobs keep their defaults)
  export EXP_NUM ITER_NUM RUNS_DIR PYTHON model_name model_type critic_model_name critic_model_type CRITIC_BASE_URL \
    test_dataset_name test_limit max_tokens critic_max_tokens temperature
  bash "${ROOT}/selfimprove/evaluate-all.sh"
fi
py summary "${RUN}"
if [ "${EVALUATE}" -eq 1 ]; then echo "report: ${RUN}/eval/report.md"; fi
echo "run files: ${RUN}"
