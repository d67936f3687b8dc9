#!/usr/bin/env bash
# One player: self-talk and trajectory-level self-correction, compared with SFT + test-time critique
# (Section 6 and Table 5 of arXiv 2411.16579).
#
#   sft            fine-tune the base model on the reference solutions            -> iter_0/actor
#   samples        the SFT model answers every training question N times           -> selftalk/01_samples.jsonl
#   critiques      the critic (programmatic annotator, or a model) checks them     -> selftalk/02_critiques.jsonl
#   refinements    the SFT model refines them, guided by the critiques             -> selftalk/03_refinements.jsonl
#   self-talk      step-level critique of each answer, rewrite of the first wrong step until accepted,
#                  regeneration from it, smoothing, final verification            -> selftalk/chains.jsonl, selftalk_sft.json
#   self-correct   question -> answer -> self-critique (-> corrected answer)       -> selftalk/selfcorrect_sft.json
#   train          the base model on each file                                     -> selftalk/{selftalk,selfcorrect}_model
#   evaluate       three rows on the same test set: self-talk (own final answer), self-correction
#                  (self-check + self-refine), SFT + critic (critic-verified refine) -> eval_onep/report.md
#
# Every knob can be set from the environment, e.g. EXP_NUM=st1 train_limit=64 bash selfimprove/selftalk-all.sh,
# or from a preset: PRESET=selfimprove/presets/selftalk-llama3-8b.env bash selfimprove/selftalk-all.sh
# Defaults are the embedded demo (SmolLM2-135M-Instruct, easy synthetic problems, CPU-sized).
# Rerunning the same command continues an interrupted run: finished steps are skipped.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${PRESET:-}" ]; then source "${PRESET}"; fi

# ---------------------------------------------------------------------------------- knobs
: "${dataset_name:=synthetic-easy}"     # training datasets (space-separated specs, see docs/data.md)
: "${test_dataset_name:=${dataset_name}}" # evaluation datasets
: "${train_limit:=16}"                  # training questions per dataset (empty = all)
: "${test_limit:=8}"                    # test questions per dataset (empty = all)
: "${sample_num:=2}"                    # initial solutions per training question (chains start from each)
: "${eval_sample_num:=2}"               # N: pool per test question (Pass@K, MV@K, K = 1, 2, 4, ..., N)
: "${temperature:=0.7}"                 # temperature of sampled answers, rewrites and new steps
: "${max_tokens:=192}"                  # new tokens per answer / refinement
: "${critic_max_tokens:=256}"           # new tokens per critique / self-check
: "${selftalk_max_tokens:=384}"         # new tokens per self-talk answer at test time
: "${MAX_ROUNDS:=3}"                    # rewrites of one step before a chain is given up
: "${MAX_STEPS:=6}"                     # steps before a chain without a final answer is given up
: "${STEP_MAX_TOKENS:=48}"              # new tokens per generated or rewritten step
: "${FORCE_ANSWER:=1}"                  # 1: the last allowed step starts with "The answer is" (0: such chains run out)
: "${JUDGE:=annotator}"                 # step judge and critic: annotator (programmatic, GSM8K/synthetic) or model
: "${SMOOTHER:=template}"               # template (deterministic) or llm (smoother_model_name rewrites the chain)
: "${model_name:=${ROOT}/models/SmolLM2-135M-Instruct}"  # base model: every model here is fine-tuned from it
: "${model_type:=Instruct}"             # Instruct (chat template, sharegpt SFT) or Base (Human:/Assistant:, alpaca SFT)
: "${template:=smollm2}"                # LLaMA-Factory template matching the model (default for Base models)
: "${default_system=You are a helpful AI assistant named SmolLM, trained by Hugging Face}"  # system prompt of the model's chat template
: "${critic_model_name:=${model_name}}" # critique model with JUDGE=model (folder, hub id, or API model with CRITIC_BASE_URL)
: "${critic_model_type:=auto}"          # prompt format of the critic
: "${CRITIC_BASE_URL:=}"                # OpenAI-compatible endpoint for the critic (key in $OPENAI_API_KEY)
: "${smoother_model_name:=${critic_model_name}}"  # model of the llm smoother
: "${SFT_MODEL:=}"                      # an SFT model to use instead of training one (e.g. runs/demo/iter_0/actor)
: "${EXP_NUM:=selftalk-demo}"           # experiment name: runs/${EXP_NUM}/
: "${GRADER:=default}"                  # answer grader: default, mathcritique, math-verify
: "${ENGINE:=auto}"                     # generation engine: auto, vllm, hf
: "${TP_SIZE:=1}"                       # vLLM tensor-parallel GPUs per engine
: "${MAX_MODEL_LEN:=2048}"              # context length reserved by the engine
: "${PROFILE:=$( (nvidia-smi -L >/dev/null 2>&1 && echo gpu) || echo cpu)}"  # training profile: cpu or gpu
: "${TRAIN_ARGS:=}"                     # extra LLaMA-Factory arguments, e.g. "max_steps=20 learning_rate=1e-5"
: "${SEED:=0}"                          # sampling and subset seed
: "${RUNS_DIR:=${ROOT}/runs}"           # where experiments live
: "${PYTHON:=${ROOT}/.venv/bin/python}" # interpreter with the inference stack
export ENGINE TP_SIZE MAX_MODEL_LEN PROFILE SEED GRADER
export VLLM_CPU_NUM_OF_RESERVED_CPU="${VLLM_CPU_NUM_OF_RESERVED_CPU:-0}" \
  VLLM_LOGGING_LEVEL="${VLLM_LOGGING_LEVEL:-WARNING}"

RUN="${RUNS_DIR}/${EXP_NUM}"
D="${RUN}/selftalk"
E="${RUN}/eval_onep"
py() { "${PYTHON}" -m "selfimprove.$@"; }
die() { echo "error: $*" >&2; exit 2; }
case "${model_type}" in Instruct) sft_format=sharegpt;; Base) sft_format=alpaca;; *) die "model_type must be Instruct or Base, not '${model_type}'";; esac
case "${JUDGE}" in annotator|model) ;; *) die "JUDGE must be annotator or model, not '${JUDGE}'";; esac
case "${SMOOTHER}" in template|llm) ;; *) die "SMOOTHER must be template or llm, not '${SMOOTHER}'";; esac
for v in sample_num eval_sample_num MAX_STEPS STEP_MAX_TOKENS; do [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"; done
[[ "${MAX_ROUNDS}" =~ ^[0-9]+$ ]] || die "MAX_ROUNDS must be a non-negative integer, not '${MAX_ROUNDS}'"
case "${FORCE_ANSWER}" in 0|1) ;; *) die "FORCE_ANSWER must be 0 or 1, not '${FORCE_ANSWER}'";; esac
[ -x "${PYTHON}" ] || die "${PYTHON} not found; run 'bash scripts/setup_env.sh'"
if [[ "${model_name}" == /* || "${model_name}" == .* ]] && [ ! -f "${model_name}/config.json" ]; then
  die "model ${model_name} not found (run 'bash scripts/setup_env.sh' for the embedded model)"; fi
if [ -n "${SFT_MODEL}" ] && [ ! -f "${SFT_MODEL}/config.json" ]; then die "SFT_MODEL ${SFT_MODEL} is not a model folder"; fi
py prepare --check --dataset ${dataset_name} --split train
py prepare --check --dataset ${test_dataset_name} --split test
actor_type=(--actor-type "${model_type}")
critic_args=(--critic-model "${critic_model_name}" --critic-type "${critic_model_type}")
[ -n "${CRITIC_BASE_URL}" ] && critic_args+=(--critic-engine openai --critic-base-url "${CRITIC_BASE_URL}")
train_sets=(); for kv in ${TRAIN_ARGS}; do train_sets+=(--set "${kv}"); done
train_common=(--base-model "${model_name}" --template "${template}" --format "${sft_format}" --profile "${PROFILE}")
[ -n "${default_system}" ] && train_common+=(--default-system "${default_system}")
gen=(--max-model-len "${MAX_MODEL_LEN}")
limit() { [ -n "$1" ] && echo "--limit $1"; true; }

mkdir -p "${RUN}/data" "${D}" "${E}"
py manifest init "${RUN}" --config "$(printf '{"driver":"selftalk-all","dataset_name":"%s","test_dataset_name":"%s","train_limit":"%s","test_limit":"%s","sample_num":%s,"eval_sample_num":%s,"temperature":%s,"MAX_ROUNDS":%s,"MAX_STEPS":%s,"JUDGE":"%s","SMOOTHER":"%s","model_name":"%s","model_type":"%s","critic_model_name":"%s","SFT_MODEL":"%s","PROFILE":"%s","SEED":%s}' \
  "${dataset_name}" "${test_dataset_name}" "${train_limit}" "${test_limit}" "${sample_num}" "${eval_sample_num}" "${temperature}" "${MAX_ROUNDS}" "${MAX_STEPS}" "${JUDGE}" "${SMOOTHER}" "${model_name}" "${model_type}" "${critic_model_name}" "${SFT_MODEL}" "${PROFILE}" "${SEED}")"
py prepare --dataset ${dataset_name} --split train $(limit "${train_limit}") --seed "${SEED}" --out "${RUN}/data/train.jsonl" --run-dir "${RUN}"
py prepare --dataset ${test_dataset_name} --split test $(limit "${test_limit}") --seed "${SEED}" --out "${RUN}/data/test.jsonl" --run-dir "${RUN}"
TRAIN="${RUN}/data/train.jsonl"; TEST="${RUN}/data/test.jsonl"

echo "== SFT model"
if [ -n "${SFT_MODEL}" ]; then
  sft="${SFT_MODEL}"
else
  py filter --run-dir "${RUN}" --iter 0 --questions "${TRAIN}" --format "${sft_format}" --base-model "${model_name}" \
    --use-original 1 --use-gpt4-feedback 0
  py train --run-dir "${RUN}" --iter 0 "${train_common[@]}" "${train_sets[@]}"
  sft="${RUN}/iter_0/actor"
fi

echo "== critique data (actor: ${sft}, critic: ${JUDGE})"
py sample --questions "${TRAIN}" --out "${D}/01_samples.jsonl" --actor-model "${sft}" "${actor_type[@]}" --n "${sample_num}" \
  --temperature "${temperature}" --max-tokens "${max_tokens}" "${gen[@]}" --run-dir "${RUN}" --step selftalk/01_samples
if [ "${JUDGE}" = annotator ]; then
  py selftalk_annotate --samples "${D}/01_samples.jsonl" --questions "${TRAIN}" --out "${D}/02_critiques.jsonl" \
    --run-dir "${RUN}" --step selftalk/02_critiques
else
  py critique --samples "${D}/01_samples.jsonl" --out "${D}/02_critiques.jsonl" --which all "${critic_args[@]}" \
    --temperature 0 --max-tokens "${critic_max_tokens}" "${gen[@]}" --run-dir "${RUN}" --step selftalk/02_critiques
fi
py refine --samples "${D}/01_samples.jsonl" --critiques "${D}/02_critiques.jsonl" --questions "${TRAIN}" \
  --out "${D}/03_refinements.jsonl" --actor-model "${sft}" "${actor_type[@]}" --n 1 --temperature "${temperature}" \
  --max-tokens "${max_tokens}" "${gen[@]}" --reserved-new-data 1000000 --run-dir "${RUN}" --step selftalk/03_refinements

echo "== self-talk chains and self-correction trajectories"
judge_args=(--judge "${JUDGE}"); [ "${JUDGE}" = model ] && judge_args+=("${critic_args[@]}")
smooth_args=(--smoother "${SMOOTHER}"); [ "${SMOOTHER}" = llm ] && smooth_args+=(--smoother-model "${smoother_model_name}")
py selftalk_build --questions "${TRAIN}" --samples "${D}/01_samples.jsonl" --out "${D}/chains.jsonl" \
  --sft-out "${D}/selftalk_sft.json" --format "${sft_format}" --base-model "${model_name}" \
  --actor-model "${sft}" "${actor_type[@]}" "${judge_args[@]}" "${smooth_args[@]}" --max-rounds "${MAX_ROUNDS}" \
  --max-steps "${MAX_STEPS}" --step-max-tokens "${STEP_MAX_TOKENS}" --force-answer "${FORCE_ANSWER}" --temperature "${temperature}" \
  --critic-max-tokens "${critic_max_tokens}" "${gen[@]}" --run-dir "${RUN}" --step selftalk/04_chains
py selftalk_trajectories --questions "${TRAIN}" --samples "${D}/01_samples.jsonl" --critiques "${D}/02_critiques.jsonl" \
  --refinements "${D}/03_refinements.jsonl" --out "${D}/selfcorrect_sft.json" --format "${sft_format}" \
  --base-model "${model_name}" --run-dir "${RUN}" --step selftalk/05_selfcorrect_data

echo "== training the one-player models (from ${model_name})"
py train --role critic --run-dir "${RUN}" --dataset-file "${D}/selftalk_sft.json" --out-dir "${D}/selftalk_model" \
  --step selftalk/06_train_selftalk "${train_common[@]}" "${train_sets[@]}"
py train --role critic --run-dir "${RUN}" --dataset-file "${D}/selfcorrect_sft.json" --out-dir "${D}/selfcorrect_model" \
  --step selftalk/07_train_selfcorrect "${train_common[@]}" "${train_sets[@]}"

echo "== evaluation: self-talk, self-correction, SFT + critic on ${TEST}"
row() {  # row METHOD MODEL MAX_TOKENS [extra args]
  local method="$1" model="$2" mt="$3"; shift 3
  py selftalk_eval --method "${method}" --questions "${TEST}" --out-dir "${E}/${method}" --label "$(basename "${model}")" \
    --actor-model "${model}" "${actor_type[@]}" --pool-size "${eval_sample_num}" --temperature "${temperature}" \
    --max-tokens "${mt}" --critic-max-tokens "${critic_max_tokens}" "${gen[@]}" --run-dir "${RUN}" \
    --step "eval_onep/${method}" "$@"
}
row selftalk "${D}/selftalk_model" "${selftalk_max_tokens}"
row selfcorrect "${D}/selfcorrect_model" "${max_tokens}"
if [ "${JUDGE}" = annotator ]; then row sft_critic "${sft}" "${max_tokens}" --critic-model annotator
else row sft_critic "${sft}" "${max_tokens}" "${critic_args[@]}"; fi
py selftalk_report --rows "${E}/selftalk/row.json" "${E}/selfcorrect/row.json" "${E}/sft_critic/row.json" --out "${E}"
py summary "${RUN}" || true
echo "self-talk data: ${D}/chains.jsonl, ${D}/selftalk_sft.json"
echo "models: ${D}/selftalk_model, ${D}/selfcorrect_model (SFT: ${sft})"
echo "report: ${E}/report.md"
