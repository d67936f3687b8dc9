"""core.cli.config_from: a stage's config from its parsed options."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pytest

from selfimprove.core.cli import config_from


@dataclass(frozen=True)
class Settings:
    out_dir: Path
    pool_size: int
    label: str = "default"


def test_fields_come_from_options_of_the_same_name_and_given_values_win():
    args = argparse.Namespace(out_dir="runs/x", pool_size=4, label="mine", unrelated=True)
    assert config_from(Settings, args, out_dir=Path("runs/x")) == Settings(Path("runs/x"), 4, "mine")


def test_a_field_without_option_or_default_is_an_error():
    with pytest.raises(TypeError):
        config_from(Settings, argparse.Namespace(out_dir="runs/x"))
