#!/usr/bin/env bash
# One player: self-talk and trajectory-level self-correction, compared with SFT + test-time critique
# (Section 6 and Table 5 of arXiv 2411.16579).
#
#   sft            fine-tune the base model on the reference solutions            -> iter_0/actor
#   samples        the SFT model answers every training question N times           -> selftalk/01_samples.jsonl
#   critiques      the critic (the programmatic one, or a model) checks them     -> selftalk/02_critiques.jsonl
#   refinements    the SFT model refines them, guided by the critiques             -> selftalk/03_refinements.jsonl
#   self-talk      step-level critique of each answer, rewrite of the first wrong step until accepted,
#                  regeneration from it, smoothing, final verification            -> selftalk/chains.jsonl, selftalk_sft.json
#   self-correct   question -> answer -> self-critique (-> corrected answer), with the SFT data (reference
#                  solutions) unless SELFCORRECT_SFT_DATA=0                        -> selftalk/selfcorrect_sft.json
#   train          the base model on each file                                     -> selftalk/{selftalk,selfcorrect}_model
#                  (a file without any example leaves not_trained.json there, and its row says "not trained")
#   evaluate       three rows on the same test set: self-talk (own final answer), self-correction
#                  (self-check + self-refine), SFT + critic (critic-verified refine) -> eval_onep/report.md
#
# Every knob is an environment variable, e.g. EXP_NUM=st1 train_limit=64 bash selfimprove/selftalk-all.sh,
# or a KEY=VALUE line of a preset file: PRESET=selfimprove/presets/selftalk-llama3-8b.env (the environment wins).
# Defaults are the embedded demo (SmolLM2-135M-Instruct, easy synthetic problems, CPU-sized); they, the
# checks and the run's file names live in selfimprove/core/ (`python -m selfimprove config show selftalk`).
# Rerunning the same command continues an interrupted run: finished steps are checked and skipped.
#
# ---------------------------------------------------------------------------------- knobs
#   EXP_NUM                    experiment name: runs/$EXP_NUM/
#   RUNS_DIR                   where experiments live
#   SEED                       sampling and subset seed
#   LOG_LEVEL                  message level: DEBUG, INFO, WARNING, ERROR
#   PYTHON                     interpreter with the inference stack
#   DATA_DIR                   folder of local datasets and feedback files
#   PLAN                       1: print what the run would do (steps, prompts, token budgets, training, GPU-hours), write runs/$EXP_NUM/plan.json, stop
#   PLAN_GPUS                  GPUs per node the plan assumes (0: the GPUs visible here, or 8 when none is)
#   PLAN_TOKENS_PER_S          generated tokens per second per GPU behind the plan's GPU-hour estimate
#   PLAN_TRAIN_TOKENS_PER_S    trained tokens per second per GPU behind the plan's GPU-hour estimate
#   dataset_name               training datasets (space-separated): synthetic gsm8k math math500 file:...
#   test_dataset_name          evaluation datasets (default: dataset_name)
#   train_limit                training questions per dataset (empty = all)
#   test_limit                 test questions per dataset (empty = all)
#   sample_num                 N: solutions per training question (evaluate: samples per question, Pass@K/MV@K)
#   temperature                sampling temperature of the actor (greedy answers use 0)
#   top_p                      nucleus sampling of the actor
#   max_tokens                 new tokens per solution
#   critic_max_tokens          new tokens per critique
#   model_name                 base model (folder or hub id); every iteration trains from it
#   model_type                 Instruct (chat template, sharegpt SFT) or Base (Human:/Assistant:, alpaca SFT)
#   template                   LLaMA-Factory template matching the model (default for Base models)
#   default_system             system prompt of the model's own chat template (empty = the template's)
#   critic_model_name          critique model: folder, hub id, API model with CRITIC_BASE_URL, or programmatic (no model, training samples only) (default: model_name)
#   critic_model_type          prompt format of the critic: auto (critic-all.sh: model_type), Instruct/chat, Base/base
#   CRITIC_BASE_URL            OpenAI-compatible endpoint for the critic (key in $OPENAI_API_KEY)
#   ENGINE                     generation engine: auto, vllm, hf, ray
#   RAY_ADDRESS                ENGINE=ray: Ray cluster to join (host:port, auto); empty: start one here
#   RAY_REPLICAS               ENGINE=ray: model replicas (0: one per TP_SIZE GPUs, or per node)
#   RAY_ENGINE                 ENGINE=ray: engine in each replica: auto, hf, vllm
#   TP_SIZE                    vLLM tensor-parallel GPUs per engine (engines = GPUs / TP_SIZE)
#   MAX_MODEL_LEN              context length reserved by the engine
#   GPU_MEMORY_UTILIZATION     GPU memory share per vLLM engine (evaluate: 0.45, actor and critic share the GPUs)
#   CHUNK_SIZE                 items generated between two checkpoint appends
#   GRADER                     answer grader: default, mathcritique (seed-faithful), math-verify
#   VOTING                     majority vote: equivalence or exact (identical answer strings, as released); the other reported beside
#   PROFILE                    training profile: cpu or gpu (default: gpu if nvidia-smi sees one)
#   TRAIN_ARGS                 extra LLaMA-Factory arguments, e.g. "max_steps=20 learning_rate=1e-5"
#   KEEP_CHECKPOINTS           keep full training checkpoints next to each model (a killed training resumes from them)
#   TRAIN_REUSE_DIR            reuse a finished fine-tuning with the same arguments, data and base model (sweeps: shared)
#   ZERO_STAGE                 DeepSpeed ZeRO stage of the gpu profile: 2 or 3
#   GLOBAL_BATCH               sequences per optimizer step on all GPUs: accumulation = GLOBAL_BATCH / (per-device batch x GPUs x nodes); 0: off
#   MAX_STEPS                  most steps of a solution: critic-all.sh leaves longer paths out; selftalk-all.sh gives up a chain without a final answer
#   eval_sample_num            N: pool per test question (Pass@K, MV@K, K = 1, 2, 4, ..., N)
#   selftalk_max_tokens        new tokens per self-talk answer at test time
#   MAX_ROUNDS                 rewrites of one step before a chain is given up
#   STEP_MAX_TOKENS            new tokens per generated or rewritten step
#   FORCE_ANSWER               1: the last allowed step starts with "The answer is" (0: such chains run out)
#   JUDGE                      step judge and critic: programmatic (no model, GSM8K/synthetic) or model (critic_model_name)
#   SMOOTHER                   template (deterministic) or llm (smoother_model_name rewrites the chain)
#   smoother_model_name        model of the llm smoother (default: critic_model_name)
#   SFT_MODEL                  an SFT model to use instead of training one (e.g. runs/demo/iter_0/actor)
#   SELFCORRECT_SFT_DATA       1: the self-correction model also trains on the SFT data (reference solutions), as in the paper
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# check every knob, lock runs/$EXP_NUM against a second driver, record the whole configuration;
# files[role] and steps[role] are the run's paths and step names (selfimprove/core/layout.py)
source "${ROOT}/selfimprove/driver-begin.sh" selftalk

actor_type=(--actor-type "${model_type}")
critic_args=(--critic-model "${critic_model_name}" --critic-type "${critic_model_type}")
if [ -n "${CRITIC_BASE_URL}" ]; then critic_args+=(--critic-engine openai --critic-base-url "${CRITIC_BASE_URL}"); fi
train_sets=(); for kv in ${TRAIN_ARGS}; do train_sets+=(--set "${kv}"); done
train_common=(--base-model "${model_name}" --template "${template}" --format "${sft_format}" --profile "${PROFILE}")
if [ -n "${default_system}" ]; then train_common+=(--default-system "${default_system}"); fi
gen=(--max-model-len "${MAX_MODEL_LEN}")
TRAIN="${files[train_questions]}"; TEST="${files[test_questions]}"
py prepare --dataset ${dataset_name} --split train ${train_limit:+--limit "${train_limit}"} --seed "${SEED}" \
  --out "${TRAIN}" --run-dir "${RUN}" --step "${steps[train_questions]}"
py prepare --dataset ${test_dataset_name} --split test ${test_limit:+--limit "${test_limit}"} --seed "${SEED}" \
  --out "${TEST}" --run-dir "${RUN}" --step "${steps[test_questions]}"

echo "== SFT model"
if [ -n "${SFT_MODEL}" ]; then
  sft="${SFT_MODEL}"
else
  py filter --run-dir "${RUN}" --iter 0 --questions "${TRAIN}" --format "${sft_format}" --base-model "${model_name}" \
    --use-original 1 --use-gpt4-feedback 0
  py train --run-dir "${RUN}" --iter 0 "${train_common[@]}" "${train_sets[@]}"
  sft="${files[sft_actor]}"
fi

echo "== critique data (actor: ${sft}, critic: ${JUDGE})"
py sample --questions "${TRAIN}" --out "${files[samples]}" --actor-model "${sft}" "${actor_type[@]}" --n "${sample_num}" \
  --temperature "${temperature}" --max-tokens "${max_tokens}" "${gen[@]}" --run-dir "${RUN}" --step "${steps[samples]}"
if [ "${JUDGE}" = programmatic ]; then
  py selftalk_annotate --samples "${files[samples]}" --questions "${TRAIN}" --out "${files[critiques]}" \
    --run-dir "${RUN}" --step "${steps[critiques]}"
else
  py critique --samples "${files[samples]}" --out "${files[critiques]}" --which all "${critic_args[@]}" \
    --temperature 0 --max-tokens "${critic_max_tokens}" "${gen[@]}" --run-dir "${RUN}" --step "${steps[critiques]}"
fi
py refine --samples "${files[samples]}" --critiques "${files[critiques]}" --questions "${TRAIN}" \
  --out "${files[refinements]}" --actor-model "${sft}" "${actor_type[@]}" --n 1 --temperature "${temperature}" \
  --max-tokens "${max_tokens}" "${gen[@]}" --reserved-new-data 1000000 --run-dir "${RUN}" --step "${steps[refinements]}"

echo "== self-talk chains and self-correction trajectories"
judge_args=(--judge "${JUDGE}"); if [ "${JUDGE}" = model ]; then judge_args+=("${critic_args[@]}"); fi
smooth_args=(--smoother "${SMOOTHER}"); if [ "${SMOOTHER}" = llm ]; then smooth_args+=(--smoother-model "${smoother_model_name}"); fi
py selftalk_build --questions "${TRAIN}" --samples "${files[samples]}" --out "${files[chains]}" \
  --sft-out "${files[selftalk_sft]}" --format "${sft_format}" --base-model "${model_name}" \
  --actor-model "${sft}" "${actor_type[@]}" "${judge_args[@]}" "${smooth_args[@]}" --max-rounds "${MAX_ROUNDS}" \
  --max-steps "${MAX_STEPS}" --step-max-tokens "${STEP_MAX_TOKENS}" --force-answer "${FORCE_ANSWER}" --temperature "${temperature}" \
  --critic-max-tokens "${critic_max_tokens}" "${gen[@]}" --run-dir "${RUN}" --step "${steps[chains]}"
py selftalk_trajectories --questions "${TRAIN}" --samples "${files[samples]}" --critiques "${files[critiques]}" \
  --refinements "${files[refinements]}" --out "${files[selfcorrect_sft]}" --format "${sft_format}" \
  --sft-data "${SELFCORRECT_SFT_DATA}" --base-model "${model_name}" --run-dir "${RUN}" --step "${steps[selfcorrect_sft]}"

echo "== training the one-player models (from ${model_name})"
py train --role critic --run-dir "${RUN}" --dataset-file "${files[selftalk_sft]}" --out-dir "${files[selftalk_model]}" \
  --step "${steps[selftalk_model]}" --if-empty skip "${train_common[@]}" "${train_sets[@]}"
py train --role critic --run-dir "${RUN}" --dataset-file "${files[selfcorrect_sft]}" --out-dir "${files[selfcorrect_model]}" \
  --step "${steps[selfcorrect_model]}" --if-empty skip "${train_common[@]}" "${train_sets[@]}"

echo "== evaluation: self-talk, self-correction, SFT + critic on ${TEST}"
row() {  # row METHOD MODEL MAX_TOKENS [extra args]
  local method="$1" model="$2" mt="$3"; shift 3
  py selftalk_eval --method "${method}" --questions "${TEST}" --out-dir "${files[eval]}/${method}" --label "$(basename "${model}")" \
    --actor-model "${model}" "${actor_type[@]}" --pool-size "${eval_sample_num}" --temperature "${temperature}" \
    --max-tokens "${mt}" --critic-max-tokens "${critic_max_tokens}" "${gen[@]}" --run-dir "${RUN}" \
    --step "${steps[eval]}/${method}" "$@"
}
row selftalk "${files[selftalk_model]}" "${selftalk_max_tokens}"
row selfcorrect "${files[selfcorrect_model]}" "${max_tokens}"
if [ "${JUDGE}" = programmatic ]; then row sft_critic "${sft}" "${max_tokens}" --critic-model programmatic
else row sft_critic "${sft}" "${max_tokens}" "${critic_args[@]}"; fi
py selftalk_report --methods selftalk selfcorrect sft_critic --out "${files[eval]}"
py summary "${RUN}" || true
echo "self-talk data: ${files[chains]}, ${files[selftalk_sft]}"
echo "models: ${files[selftalk_model]}, ${files[selfcorrect_model]} (SFT: ${sft})"
echo "report: ${files[report]}"
