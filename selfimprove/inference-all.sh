#!/usr/bin/env bash
# Critique-in-the-loop self-improvement (Algorithm 1 of arXiv 2411.16579).
#
#   iteration 0:  SFT the base model on reference solutions (+ critique->refinement examples)
#   iteration k:  sample N solutions per training question with actor k-1, keep the correct ones,
#                 critique the wrong ones, refine them, keep refinements that became correct,
#                 SFT the base model on the result -> actor k
#
# Every knob is an environment variable, e.g.
#   ITER_NUM=2 sample_num=4 EXP_NUM=exp1 bash selfimprove/inference-all.sh
# or a KEY=VALUE line of a preset file: PRESET=selfimprove/presets/llama3-8b.env (the environment wins).
# Defaults are the embedded demo (SmolLM2-135M-Instruct, synthetic problems, CPU-sized); they and the
# checks live in selfimprove/core/config.py, which checks every knob before anything runs
# (`python -m selfimprove config show inference` prints the resolved values).
# Rerunning the same command continues an interrupted run: finished steps are checked and skipped.
#
# ---------------------------------------------------------------------------------- knobs
#   EXP_NUM                   experiment name: runs/$EXP_NUM/
#   RUNS_DIR                  where experiments live (default: runs/)
#   ITER_NUM                  self-improvement iterations after iteration 0
#   SEED                      sampling and subset seed
#   LOG_LEVEL                 message level: DEBUG, INFO, WARNING, ERROR
#   PYTHON                    interpreter with the inference stack (default: .venv/bin/python)
#   DATA_DIR                  folder of local datasets and feedback files (default: data/)
#   PLAN                      1: print what the run would do (steps, prompts, token budgets, training, GPU-hours), write runs/$EXP_NUM/plan.json, stop
#   PLAN_GPUS                 GPUs per node the plan assumes (0: the GPUs visible here, or 8 when none is)
#   PLAN_TOKENS_PER_S         generated tokens per second per GPU behind the plan's GPU-hour estimate
#   PLAN_TRAIN_TOKENS_PER_S   trained tokens per second per GPU behind the plan's GPU-hour estimate
#   dataset_name              training datasets (space-separated): synthetic gsm8k math math500 file:...
#   test_dataset_name         evaluation datasets (default: dataset_name)
#   train_limit               training questions per dataset (empty = all)
#   test_limit                test questions per dataset (empty = all)
#   sample_num                N: solutions sampled per training question
#   temperature               sampling temperature of the actor
#   top_p                     nucleus sampling of the actor
#   max_tokens                new tokens per solution
#   critic_max_tokens         new tokens per critique
#   refine_num                refinements per critique (default: sample_num)
#   reserved_new_data         at most this many kept refinements per critiqued sample
#   RESERVED_SCOPE            what reserved_new_data counts per: sample (the released rule) or question
#   model_name                base model (folder or hub id); every iteration trains from it
#   model_type                Instruct (chat template, sharegpt SFT) or Base (Human:/Assistant:, alpaca SFT)
#   template                  LLaMA-Factory template matching the model (default for Base models)
#   default_system            system prompt of the model's own chat template (empty = the template's)
#   critic_model_name         critique model: folder, hub id, API model with CRITIC_BASE_URL, or programmatic (no model)
#   critic_model_type         prompt format of the critic: auto, Instruct/chat, Base/base
#   CRITIC_BASE_URL           OpenAI-compatible endpoint for the critic (key in $OPENAI_API_KEY)
#   ENGINE                    generation engine: auto, vllm, hf, ray (docs/scaling.md)
#   RAY_ADDRESS               ENGINE=ray: Ray cluster to join (host:port, auto); empty: start one here
#   RAY_REPLICAS              ENGINE=ray: model replicas (0: one per TP_SIZE GPUs, or per node)
#   RAY_ENGINE                ENGINE=ray: engine in each replica: auto, hf, vllm
#   TP_SIZE                   vLLM tensor-parallel GPUs per engine (engines = GPUs / TP_SIZE)
#   MAX_MODEL_LEN             context length reserved by the engine
#   GPU_MEMORY_UTILIZATION    GPU memory share per vLLM engine
#   CHUNK_SIZE                items generated between two checkpoint appends
#   GRADER                    answer grader: default, mathcritique (seed-faithful), math-verify
#   PROFILE                   training profile: cpu or gpu (default: gpu if nvidia-smi sees one)
#   TRAIN_ARGS                extra LLaMA-Factory arguments, e.g. "max_steps=20 learning_rate=1e-5"
#   KEEP_CHECKPOINTS          keep full training checkpoints next to each model (resumable training)
#   TRAIN_REUSE_DIR           reuse a finished fine-tuning with the same arguments, data and base model (sweeps: shared)
#   ZERO_STAGE                DeepSpeed ZeRO stage of the gpu profile: 2 or 3
#   GLOBAL_BATCH              sequences per optimizer step on all GPUs: accumulation = GLOBAL_BATCH / (per-device batch x GPUs x nodes); 0: off
#   USE_CRITIC                critique + refine the wrong samples, train on kept refinements
#   USE_ORIGINAL              keep the iteration-0 reference data in every iteration
#   USE_PREVIOUS              train on the sampled data of all iterations so far
#   USE_SELFIMPROVE_FEEDBACK  also train on (solution, critique) -> refinement examples
#   USE_GPT4_FEEDBACK         add FEEDBACK_FILE's critique->refinement examples
#   FEEDBACK_FILE             alpaca files of critique->refinement examples (auto: the released ones in DATA_DIR; empty: none)
#   CRITIQUE_WHICH            critique the incorrect samples (or: all)
#   EVALUATE                  run selfimprove/evaluate-all.sh at the end (its knobs are checked now too)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# check every knob, lock runs/$EXP_NUM against a second driver, record the whole configuration
source "${ROOT}/selfimprove/driver-begin.sh" inference

critic_args=(--critic-model "${critic_model_name}" --critic-type "${critic_model_type}")
if [ -n "${CRITIC_BASE_URL}" ]; then critic_args+=(--critic-engine openai --critic-base-url "${CRITIC_BASE_URL}"); fi
train_sets=(); for kv in ${TRAIN_ARGS}; do train_sets+=(--set "${kv}"); done
feedback=(); for f in ${FEEDBACK_FILE}; do feedback+=(--feedback-file "${f}"); done
filter_model=(); if [ "${sft_format}" = alpaca ]; then filter_model=(--base-model "${model_name}"); fi

py prepare --dataset ${dataset_name} --split train ${train_limit:+--limit "${train_limit}"} --seed "${SEED}" --run-dir "${RUN}"

actor="${model_name}"
for ((ITER = 0; ITER <= ITER_NUM; ITER++)); do
  echo "== iteration ${ITER} (actor: ${actor})"
  if [ "${ITER}" -ge 1 ]; then
    py sample --run-dir "${RUN}" --iter "${ITER}" --actor-model "${actor}" --actor-type "${model_type}" \
      --n "${sample_num}" --temperature "${temperature}" --max-tokens "${max_tokens}" --max-model-len "${MAX_MODEL_LEN}"
    if [ "${USE_CRITIC}" -eq 1 ]; then
      py critique --run-dir "${RUN}" --iter "${ITER}" --which "${CRITIQUE_WHICH}" "${critic_args[@]}" \
        --temperature 0 --max-tokens "${critic_max_tokens}" --max-model-len "${MAX_MODEL_LEN}"
      py refine --run-dir "${RUN}" --iter "${ITER}" --actor-model "${actor}" --actor-type "${model_type}" \
        --n "${refine_num}" --temperature "${temperature}" --max-tokens "${max_tokens}" --max-model-len "${MAX_MODEL_LEN}" \
        --reserved-new-data "${reserved_new_data}" --reserved-scope "${RESERVED_SCOPE}"
    fi
  fi
  py filter --run-dir "${RUN}" --iter "${ITER}" --questions "$(py layout "${RUN}" train)" --format "${sft_format}" \
    "${filter_model[@]}" "${feedback[@]}" --use-original "${USE_ORIGINAL}" --use-previous "${USE_PREVIOUS}" \
    --use-critic "${USE_CRITIC}" --use-selfimprove-feedback "${USE_SELFIMPROVE_FEEDBACK}" --use-gpt4-feedback "${USE_GPT4_FEEDBACK}"
  # every iteration fine-tunes the base model (as in the paper), on that iteration's data
  py train --run-dir "${RUN}" --iter "${ITER}" --base-model "${model_name}" --template "${template}" \
    --format "${sft_format}" --profile "${PROFILE}" ${default_system:+--default-system "${default_system}"} "${train_sets[@]}"
  actor="$(py layout "${RUN}" actor --iter "${ITER}")"
done

if [ "${EVALUATE}" -eq 1 ]; then
  # the evaluation sees this run's models, data and engine settings (exported above); its own knobs keep their defaults
  stage bash "${ROOT}/selfimprove/evaluate-all.sh"
fi
py summary "${RUN}"
if [ "${EVALUATE}" -eq 1 ]; then echo "report: $(py layout "${RUN}" report)"; fi
echo "run files: ${RUN}"
