"""Training sees exactly the text sampling sends, checked through LLaMA-Factory's own data code.

The SFT files are written by our exporter, registered and configured by our launcher, then read,
converted, templated and tokenized by LLaMA-Factory in the training environment
(``LLaMA-Factory/render_check.py``). What the model reads before its first trained token must be
byte for byte the prompt the sampler sends, for the base layout (alpaca files, ``empty`` template)
and for the chat layout (sharegpt files, the ``smollm2`` template with the driver's system prompt
against SmolLM2's own chat template).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from selfimprove.generation.prompts import SOLUTION_PREFIX, PromptFormat, refine_prompt, solve_prompt
from selfimprove.training import export, launcher

ROOT = Path(__file__).resolve().parent.parent
TRAIN_PY = ROOT / ".venv-train" / "bin" / "python"
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct"

QUESTION = "Mia packs 3 boxes of 12 pencils and gives away 5. How many pencils does she keep?"
WRONG = f"{SOLUTION_PREFIX}3 boxes hold 3 + 12 = 15 pencils.\nShe keeps 15 - 5 = 10.\nThe answer is 10."
CRITIQUE = "Step sentence: 3 boxes hold 3 + 12 = 15 pencils.\nCorrectness of the step: Wrong"
RIGHT = f"{SOLUTION_PREFIX}3 boxes hold 3 * 12 = <<3*12=36>>36 pencils.\nShe keeps 36 - 5 = 31.\nThe answer is 31."
MATH_Q = "Simplify $\\frac{6}{8}$."
MATH_A = f"{SOLUTION_PREFIX}Divide both by 2: $\\frac{{3}}{{4}}$.\nThe answer is $\\boxed{{\\frac{{3}}{{4}}}}$."

# (conversation as the exporter builds it, the prompt the sampler sends for it)
CASES = [
    (export.solution_example({"dataset_type": "gsm8k"}, QUESTION, RIGHT), solve_prompt(QUESTION, "gsm8k")),
    (export.solution_example({"dataset_type": "math"}, MATH_Q, MATH_A), solve_prompt(MATH_Q, "math")),
    (
        export.feedback_example(QUESTION, "gsm8k", WRONG, CRITIQUE, RIGHT),
        refine_prompt(QUESTION, WRONG, CRITIQUE, "gsm8k"),
    ),
]


def driver_default_system() -> str:
    """The system prompt the driver passes to the train stage by default (knob ``default_system``)."""
    try:
        from selfimprove.core import config
    except ImportError:  # knobs still defined in the driver itself
        m = re.search(r': "\$\{default_system=([^}]*)\}"', (ROOT / "selfimprove" / "inference-all.sh").read_text())
        assert m, "inference-all.sh no longer sets default_system"
        return m.group(1)
    return config.knobs()["default_system"].default


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    if not TRAIN_PY.is_file():
        pytest.skip("training environment .venv-train is absent")
    if not (MODEL / "config.json").is_file():
        pytest.skip("embedded model models/SmolLM2-135M-Instruct is absent")
    d = tmp_path_factory.mktemp("render")
    eos = export.model_eos_token(str(MODEL))
    assert eos
    convs = [c for c, _ in CASES]
    yamls = {}
    for fmt, template, system in (
        ("alpaca", launcher.BASE_TEMPLATE, None),
        ("sharegpt", "smollm2", driver_default_system()),
    ):
        (d / f"{fmt}.json").write_text(json.dumps(export.export(convs, fmt, eos)))
        launcher.register_dataset(d, fmt, f"{fmt}.json", fmt)
        args = launcher.training_args("cpu", str(MODEL), template, d, fmt, d / "out", {"default_system": system})
        yamls[fmt] = d / f"{fmt}.yaml"
        yamls[fmt].write_text(launcher.to_yaml(args))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_DATASETS_CACHE=str(d / "cache"))
    proc = subprocess.run(
        [str(TRAIN_PY), str(ROOT / "LLaMA-Factory" / "render_check.py"), "--limit", str(len(CASES))]
        + [str(y) for y in yamls.values()],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    return {fmt: [r for r in rows if r["yaml"] == str(y)] for fmt, y in yamls.items()}


@pytest.fixture(scope="module")
def tokenizer():
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(MODEL))


def check_same_text(rows: list[dict], fmt: PromptFormat, tokenizer, end: str) -> None:
    assert len(rows) == len(CASES)
    for row, (conv, prompt) in zip(rows, CASES):
        sent = fmt.render(prompt)
        # the trained prompt plus the reply's first words is, byte for byte, what sampling sends
        assert row["prompt"] + prompt.prefix == sent
        assert row["response"] == conv[-1]["content"] + end
        assert row["eos_trained"] and not row["truncated"]
        # and the trained prompt is the same tokens the sampler's tokenizer gives. (Only the text of
        # the reply prefix is compared: it ends in "\n\n", which SmolLM2's tokenizer encodes as one
        # token at the end of a prompt but as two before the next word; see docs/training.md.)
        ids = tokenizer(sent).input_ids
        assert row["prompt_ids"] == ids[: len(row["prompt_ids"])]


def test_base_layout_trains_on_the_prompt_the_sampler_sends(rendered, tokenizer):
    fmt = PromptFormat("base", tokenizer)
    check_same_text(rendered["alpaca"], fmt, tokenizer, tokenizer.eos_token)  # the reply, then EOS
    # the refinement prompt carries the earlier turn with its EOS, as sampling renders it
    assert f"\n{tokenizer.eos_token}\nHuman: I have made" in rendered["alpaca"][2]["prompt"]


def test_chat_layout_matches_the_models_chat_template(rendered, tokenizer):
    fmt = PromptFormat("chat", tokenizer)
    check_same_text(rendered["sharegpt"], fmt, tokenizer, "<|im_end|>\n")
