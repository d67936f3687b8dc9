"""Print what LLaMA-Factory will train on: its own data pipeline, run on a training YAML.

Run in the training environment (it imports llamafactory):

    .venv-train/bin/python LLaMA-Factory/render_check.py [--limit N] iter_0/train.yaml [more.yaml ...]

It reads each YAML the train stage wrote (model, template, default_system, dataset_dir, dataset,
cutoff_len, ...), loads the tokenizer, converts and tokenizes the first N examples (default 5)
exactly as ``llamafactory-cli train`` does (dataset_info.json entry, converter, template, masks),
and prints one JSON object per example on stdout (LLaMA-Factory's own logs go to stderr):

    {"yaml": the YAML file, "index": example number,
     "prompt": text the model reads before its first trained token,
     "response": text of the trained tokens (labels),
     "prompt_ids", "response_ids": the same as token ids,
     "eos_trained": whether the tokenizer's EOS is among the trained tokens,
     "truncated": whether cutoff_len cut the example}

Nothing is trained and nothing is kept (outputs go to a temporary folder, the cache is not reused).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile

IGNORE_INDEX = -100


def read_yaml(path: str) -> dict:
    """The train stage writes one ``key: <JSON value>`` per line."""
    args = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, sep, value = line.rstrip("\n").partition(": ")
            if sep:
                args[key] = json.loads(value)
    return args


def render(path: str, limit: int) -> list[dict]:
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    args = read_yaml(path)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        args.update(
            output_dir=out,
            max_samples=limit,
            overwrite_cache=True,
            preprocessing_num_workers=None,
            deepspeed=None,
            report_to="none",
            use_cpu=True,
            bf16=False,
            fp16=False,
            resume_from_checkpoint=None,
        )
        args = {k: v for k, v in args.items() if v is not None}
        model_args, data_args, training_args, _, _ = get_train_args(args)
        tokenizer_module = load_tokenizer(model_args)
        tokenizer = tokenizer_module["tokenizer"]
        template = get_template_and_fix_tokenizer(tokenizer, data_args)
        dataset = get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)
        train = dataset["train_dataset"]

        def text(tokens: list[int]) -> str:
            return tokenizer.decode(tokens, skip_special_tokens=False, clean_up_tokenization_spaces=False)

        for i in range(min(limit, len(train))):
            ids, labels = train[i]["input_ids"], train[i]["labels"]
            first = next(j for j, t in enumerate(labels) if t != IGNORE_INDEX)
            trained = [t for t in labels if t != IGNORE_INDEX]
            rows.append(
                {
                    "yaml": path,
                    "index": i,
                    "prompt": text(ids[:first]),
                    "response": text(trained),
                    "prompt_ids": ids[:first],
                    "response_ids": trained,
                    "eos_trained": tokenizer.eos_token_id in trained,
                    "truncated": len(ids) >= data_args.cutoff_len,
                }
            )
    return rows


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    limit = 5
    if argv[0] == "--limit":
        limit, argv = int(argv[1]), argv[2:]
    rows = []
    with contextlib.redirect_stdout(sys.stderr):  # LLaMA-Factory prints its example to stdout
        for path in argv:
            rows.extend(render(path, limit))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
