#!/usr/bin/env bash
# The critique model (AutoMathCritique + critic fine-tuning + Table 2 of arXiv 2411.16579).
#
#   questions      train and held-out test questions          -> critic/data/{train,test}.jsonl
#   1 paths        flawed reasoning paths (RG1, RG2, RG3, ref)  -> critic/01_flawed_paths.jsonl
#   2 annotate     step-level critiques (programmatic / model)  -> critic/02_annotations.jsonl
#   3 MC filter    refine N times, keep if N_correct >= k       -> critic/03_mc_filter.jsonl (+ 03_mc_refinements.jsonl)
#   4 dataset      LLaMA-Factory data + entry + statistics      -> critic/04_dataset.json, dataset_info.json, stats.json
#   5 train        fine-tune the critic                         -> critic/model/
#   5b likelihood  (LIKELIHOOD_SOLUTIONS > 0) the likelihood critic: a model fine-tuned on right
#                  solutions of training questions, its threshold fitted on paths of other ones
#                                                               -> critic/04_solutions.json, critic/likelihood/
#                                                                  (likelihood.json), 05_likelihood_calibration.jsonl
#   6 evaluate     critics on held-out responses (Table 2)      -> critic/eval/{paths,responses}.jsonl, <critic>/,
#                                                                  results.json, report.md, critics.png
#
# Every knob is an environment variable, e.g.
#   critic_train_limit=200 MC_N=4 EXP_NUM=exp1 bash selfimprove/critic-all.sh
# or a KEY=VALUE line of a preset file: PRESET=selfimprove/presets/critic-llama3-8b.env (the environment wins).
# Defaults are the embedded demo (SmolLM2-135M-Instruct as actor and critic, easy synthetic problems,
# the programmatic annotator, CPU sizes); they, the checks and the run's file names live in
# selfimprove/core/ (`python -m selfimprove config show critic` prints the resolved values).
# Rerunning the same command continues an interrupted run: finished steps are checked and skipped.
# The trained critic is runs/$EXP_NUM/critic/model/; point critic_model_name of the other drivers at it.
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
#   temperature                sampling temperature of the actor (greedy answers use 0)
#   top_p                      nucleus sampling of the actor
#   max_tokens                 new tokens per solution
#   critic_max_tokens          new tokens per critique
#   model_name                 base model (folder or hub id); every iteration trains from it
#   model_type                 Instruct (chat template, sharegpt SFT) or Base (Human:/Assistant:, alpaca SFT)
#   template                   LLaMA-Factory template matching the model (default for Base models)
#   default_system             system prompt of the model's own chat template (empty = the template's)
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
#   PROFILE                    training profile: cpu or gpu (default: gpu if nvidia-smi sees one)
#   KEEP_CHECKPOINTS           keep full training checkpoints next to each model (a killed training resumes from them)
#   TRAIN_REUSE_DIR            reuse a finished fine-tuning with the same arguments, data and base model (sweeps: shared)
#   ZERO_STAGE                 DeepSpeed ZeRO stage of the gpu profile: 2 or 3
#   GLOBAL_BATCH               sequences per optimizer step on all GPUs: accumulation = GLOBAL_BATCH / (per-device batch x GPUs x nodes); 0: off
#   critic_dataset_name        questions the critique data is built from (dataset specs)
#   critic_test_dataset_name   held-out questions of the critic evaluation (default: critic_dataset_name)
#   critic_train_limit         training questions (empty = all)
#   critic_test_limit          held-out questions (empty = all)
#   critic_base_model          the model the critic is fine-tuned from (default: model_name)
#   STRATEGIES                 flawed-path strategies, comma-separated: rg1 (sampling), rg2 (hotter after step t), rg3 (inserted mistake), reference
#   PATH_SAMPLES               RG1 samples per question (RG2 continues each)
#   RG2_TEMPERATURE            RG2: temperature after the prefix
#   RG3_PER_QUESTION           RG3 paths per question
#   RG3_CONTINUE               RG3: who writes the steps after the mistake: actor (sampled) or reference (carried forward, no model)
#   INSERTER                   RG3 mistakes: programmatic (exact) or model
#   INSERTER_MODEL             RG3 with INSERTER=model: the second model (default: model_name)
#   MISTAKE_TYPES              RG3 mistake types, comma-separated, or all (the list of selfimprove/critic/prompts.py)
#   KEEP_CORRECT               correct RG1/RG2 paths kept per question
#   MAX_STEPS                  most steps of a solution: critic-all.sh leaves longer paths out; selftalk-all.sh gives up a chain without a final answer
#   ANNOTATOR                  programmatic, or model (ANNOTATOR_MODEL)
#   ANNOTATOR_MODEL            annotating model: folder, hub id, or API model with ANNOTATOR_BASE_URL
#   ANNOTATOR_BASE_URL         OpenAI-compatible endpoint of the annotator (key in $OPENAI_API_KEY)
#   MC_N                       Monte-Carlo filter: refinements per critique
#   MC_K                       ... keep the critique when at least k are correct (0: no refinement)
#   BALANCE                    larger verdict class at most BALANCE x the smaller (0: off)
#   CRITIC_EXAMPLES            critique examples trained on: a seeded, verdict-balanced subset of the kept ones (0 = all; nested: the first N of a larger set)
#   CRITIC_TRAIN_ARGS          LLaMA-Factory overrides of the critic's training
#   LIKELIHOOD_SOLUTIONS       likelihood critic: right solutions of training questions its scoring model is fine-tuned on (0: no likelihood critic)
#   LIKELIHOOD_CALIBRATION     likelihood critic: other training questions whose right and wrong paths fit its threshold
#   LIKELIHOOD_TRAIN_ARGS      LLaMA-Factory overrides of the likelihood critic's fine-tune
#   EVAL_PER_CLASS             held-out responses: this many correct and as many wrong
#   EVAL_CRITICS               critics compared: none base trained likelihood programmatic api (likelihood: needs LIKELIHOOD_SOLUTIONS; api: CRITIC_API_MODEL at CRITIC_BASE_URL)
#   CRITIC_API_MODEL           an API critic for the comparison (with CRITIC_BASE_URL)
#   PROCESSBENCH               also score the model critics on ProcessBench: a local file/folder, or hub (empty: off)
#   PROCESSBENCH_SPLIT         ProcessBench split
#   PROCESSBENCH_LIMIT         ProcessBench rows (seeded subset; 0 = all)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# check every knob, lock runs/$EXP_NUM against a second driver, record the whole configuration;
# files[role] and steps[role] are the run's paths and step names (selfimprove/core/layout.py)
source "${ROOT}/selfimprove/driver-begin.sh" critic

actor=(--actor-model "${model_name}" --actor-type "${model_type}" --max-model-len "${MAX_MODEL_LEN}")
paths_args=(--strategies "${STRATEGIES}" --samples "${PATH_SAMPLES}" --rg2-temperature "${RG2_TEMPERATURE}"
  --rg3-per-question "${RG3_PER_QUESTION}" --rg3-continue "${RG3_CONTINUE}" --inserter "${INSERTER}" --inserter-model "${INSERTER_MODEL}"
  --mistake-types "${MISTAKE_TYPES}" --keep-correct "${KEEP_CORRECT}" --max-steps "${MAX_STEPS}"
  --temperature "${temperature}" --max-tokens "${max_tokens}")
train_sets=(); for kv in ${CRITIC_TRAIN_ARGS}; do train_sets+=(--set "${kv}"); done

echo "== critique data (run files: ${RUN}/critic)"
py prepare --dataset ${critic_dataset_name} --split train ${critic_train_limit:+--limit "${critic_train_limit}"} --seed "${SEED}" \
  --out "${files[train_questions]}" --run-dir "${RUN}" --step "${steps[train_questions]}"
py prepare --dataset ${critic_test_dataset_name} --split test ${critic_test_limit:+--limit "${critic_test_limit}"} --seed "${SEED}" \
  --out "${files[test_questions]}" --run-dir "${RUN}" --step "${steps[test_questions]}"
py critic_paths --questions "${files[train_questions]}" --out "${files[paths]}" "${actor[@]}" "${paths_args[@]}" \
  --run-dir "${RUN}" --step "${steps[paths]}"
annot=(--annotator "${ANNOTATOR}")
if [ "${ANNOTATOR}" = model ]; then
  annot+=(--annotator-model "${ANNOTATOR_MODEL}" --max-tokens "${critic_max_tokens}" --max-model-len "${MAX_MODEL_LEN}")
  if [ -n "${ANNOTATOR_BASE_URL}" ]; then annot+=(--annotator-engine openai --annotator-base-url "${ANNOTATOR_BASE_URL}"); fi
fi
py critic_annotate --paths "${files[paths]}" --out "${files[annotations]}" "${annot[@]}" --run-dir "${RUN}" --step "${steps[annotations]}"
py critic_filter --paths "${files[paths]}" --annotations "${files[annotations]}" --out "${files[mc_filter]}" \
  --refinements "${files[mc_refinements]}" "${actor[@]}" --n "${MC_N}" --k "${MC_K}" --temperature "${temperature}" \
  --max-tokens "${max_tokens}" --run-dir "${RUN}" --step "${steps[mc_filter]}"
eos=(); if [ "${critic_format}" = alpaca ]; then eos=(--base-model "${critic_base_model}"); fi
py critic_dataset --paths "${files[paths]}" --annotations "${files[annotations]}" --decisions "${files[mc_filter]}" \
  --out-dir "$(dirname "${files[dataset]}")" --format "${critic_format}" --balance "${BALANCE}" \
  --examples "${CRITIC_EXAMPLES}" "${eos[@]}" \
  --run-dir "${RUN}" --step "${steps[dataset]}"

echo "== critic training"
py train --role critic --run-dir "${RUN}" --dataset-file "${files[dataset]}" --out-dir "${files[model]}" \
  --base-model "${critic_base_model}" --template "${template}" --format "${critic_format}" --profile "${PROFILE}" \
  ${default_system:+--default-system "${default_system}"} "${train_sets[@]}" --step "${steps[model]}"

if [ "${LIKELIHOOD_SOLUTIONS}" -gt 0 ]; then
  echo "== likelihood critic"
  lk_sets=(); for kv in ${LIKELIHOOD_TRAIN_ARGS}; do lk_sets+=(--set "${kv}"); done
  py critic_solutions --paths "${files[paths]}" --out "${files[solutions]}" --solutions "${LIKELIHOOD_SOLUTIONS}" \
    --calibration "${LIKELIHOOD_CALIBRATION}" --format "${critic_format}" "${eos[@]}" --run-dir "${RUN}" --step "${steps[solutions]}"
  py train --role critic --run-dir "${RUN}" --dataset-file "${files[solutions]}" --out-dir "${files[likelihood]}" \
    --base-model "${critic_base_model}" --template "${template}" --format "${critic_format}" --profile "${PROFILE}" \
    ${default_system:+--default-system "${default_system}"} "${lk_sets[@]}" --step "${steps[likelihood]}"
  py critic_calibrate --paths "${files[paths]}" --split "${files[solutions_split]}" --model "${files[likelihood]}" \
    --out "${files[calibration]}" --model-type "${critic_type}" --run-dir "${RUN}" --step "${steps[calibration]}"
fi

echo "== critic evaluation"
critics=()
for c in ${EVAL_CRITICS}; do
  case "$c" in
    none|programmatic) critics+=(--critic "$c=$c");;
    base) critics+=(--critic "base=${critic_base_model}");;
    trained) critics+=(--critic "trained=${files[model]}");;
    likelihood) critics+=(--critic "likelihood=${files[likelihood]}");;
    api) critics+=(--critic "api=api:${CRITIC_API_MODEL}" --critic-base-url "${CRITIC_BASE_URL}");;
  esac
done
if [ -n "${PROCESSBENCH}" ]; then
  critics+=(--processbench "${PROCESSBENCH}" --processbench-split "${PROCESSBENCH_SPLIT}" --processbench-limit "${PROCESSBENCH_LIMIT}"); fi
# held-out responses: the same strategies on the test questions, balanced between correct and wrong
py critic_eval --questions "${files[test_questions]}" --out-dir "${files[eval]}" "${critics[@]}" "${actor[@]}" "${paths_args[@]}" \
  --critic-type "${critic_type}" --per-class "${EVAL_PER_CLASS}" --critic-max-tokens "${critic_max_tokens}" \
  --run-dir "${RUN}" --step "${steps[eval]}"
sed -n '/^| critic/,/^$/p' "${files[report]}"
echo "critique data: ${files[dataset]} (statistics: ${files[stats]})"
echo "trained critic: ${files[model]} (set critic_model_name=${files[model]} in the other drivers)"
if [ "${LIKELIHOOD_SOLUTIONS}" -gt 0 ]; then
  echo "likelihood critic: ${files[likelihood]} (critic_model_name=${files[likelihood]} critiques with it)"; fi
echo "report: ${files[report]}"
