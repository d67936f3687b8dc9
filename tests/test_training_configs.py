"""The LLaMA-Factory files shipped in the checkout stay inside it and name what exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LF = ROOT / "LLaMA-Factory"


def test_dataset_entries_stay_inside_the_checkout():
    info = json.loads((LF / "data" / "dataset_info.json").read_text())
    for name, entry in info.items():
        path = (LF / "data" / entry["file_name"]).resolve()
        assert path.is_relative_to(ROOT), f"{name} points outside the checkout: {path}"


def test_example_configs_name_existing_datasets_and_deepspeed_files():
    info = json.loads((LF / "data" / "dataset_info.json").read_text())
    for config in sorted((LF / "configs").glob("*.yaml")):
        keys = dict(re.findall(r"^(\w+):\s*(\S+)", config.read_text(), flags=re.M))
        assert keys["dataset"] in info, config.name
        assert (ROOT / keys["dataset_dir"] / "dataset_info.json").is_file(), config.name
        assert keys.get("save_strategy", '"no"') == '"no"', f"{config.name} would keep checkpoint copies"
        if "deepspeed" in keys:
            assert (ROOT / keys["deepspeed"]).is_file(), config.name
    example = json.loads((LF / "data" / info["example_sft"]["file_name"]).read_text())
    assert example and all(len(r["conversations"]) == 2 for r in example)
