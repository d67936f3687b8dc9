"""Engines from configuration: the registry, make_engine's settings (the OpenAI engine gets the
model type and API mode), engines as context managers, and shared engines closed explicitly and
at exit."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from selfimprove.core.cli import engine_kwargs
from selfimprove.core.errors import UsageError
from selfimprove.generation import engines
from selfimprove.generation.engines import (
    ENGINE_CLASSES,
    Engine,
    EngineSettings,
    OpenAIEngine,
    SamplingParams,
    ScriptedEngine,
    add_engine_args,
    close_shared_engines,
    make_engine,
    resolve_engine,
    shared_engine,
)
from selfimprove.generation.engines import openai as openai_engine
from selfimprove.generation.prompts import Prompt

ROOT = Path(__file__).resolve().parent.parent


class Recorder(Engine):
    """Built from settings; remembers them and whether it was closed."""

    built: list[Recorder] = []

    def __init__(self, settings: EngineSettings):
        self.settings = settings
        self.name = settings.model
        self.closes = 0
        Recorder.built.append(self)

    @classmethod
    def from_settings(cls, settings):
        return cls(settings)

    def generate(self, prompts, params):
        return [[] for _ in prompts]

    def close(self):
        self.closes += 1


@pytest.fixture
def recorder(monkeypatch, tmp_path):
    monkeypatch.setitem(ENGINE_CLASSES, "recorder", Recorder)
    Recorder.built = []
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    yield str(model)
    close_shared_engines()


def test_registry_builds_registered_classes_with_all_settings(recorder):
    engine = make_engine(recorder, engine="recorder", model_type="base", tp=2, max_model_len=512, seed=9)
    assert isinstance(engine, Recorder)
    assert engine.settings == EngineSettings(model=recorder, model_type="base", tp=2, max_model_len=512, seed=9)
    assert set(engines.ENGINES) >= {"auto", "vllm", "hf", "openai"}
    with pytest.raises(UsageError, match="unknown engine 'nope'"):
        make_engine(recorder, engine="nope")
    with pytest.raises(UsageError, match="is not a model folder"):
        make_engine(str(Path(recorder).parent / "missing"), engine="recorder")


def test_resolve_engine():
    assert resolve_engine("hf") == "hf"
    assert resolve_engine("vllm", base_url="http://127.0.0.1:1/v1") == "openai"  # an endpoint wins
    assert resolve_engine("auto") in ("vllm", "hf")


def _fake_tokenizer(model):
    return types.SimpleNamespace(eos_token="</s>", chat_template=None, model=model)


def test_openai_engine_gets_model_type_and_mode(monkeypatch):
    monkeypatch.setattr(openai_engine, "load_tokenizer", _fake_tokenizer)
    url = "http://127.0.0.1:9/v1"  # nothing is sent while building
    chat = make_engine("served", engine="openai", base_url=url)
    assert isinstance(chat, OpenAIEngine) and chat.mode == "chat" and chat.format is None
    assert chat.prompt_kind == "chat"
    base = make_engine("served", base_url=url, model_type="base")
    assert isinstance(base, OpenAIEngine) and base.format is not None
    assert base.mode == "completions" and base.format.kind == "base" and base.format.tokenizer.model == "served"
    assert base.prompt_kind == "base"
    explicit = make_engine("served", base_url=url, model_type="base", mode="chat")
    assert isinstance(explicit, OpenAIEngine) and explicit.mode == "chat"
    with pytest.raises(UsageError, match="chat or completions"):
        make_engine("served", base_url=url, mode="edits")
    for e in (chat, base, explicit):
        e.close()
        e.close()  # twice is harmless


def test_cli_options_reach_make_engine(monkeypatch):
    ap = argparse.ArgumentParser()
    add_engine_args(ap, "critic")
    args = ap.parse_args(["--critic-model", "m", "--critic-api-mode", "completions", "--critic-type", "base"])
    kw = engine_kwargs(args, "critic")
    assert kw["mode"] == "completions" and kw["model_type"] == "base" and kw["model"] == "m"
    assert engine_kwargs(ap.parse_args(["--critic-model", "m"]), "critic")["mode"] is None
    with pytest.raises(SystemExit):
        ap.parse_args(["--critic-model", "m", "--critic-api-mode", "edits"])


def test_a_wrong_prompt_format_is_a_usage_error(capsys):
    ap = argparse.ArgumentParser()
    add_engine_args(ap, "actor")
    assert ap.parse_args(["--actor-model", "m", "--actor-type", "Instruct"]).actor_type == "Instruct"
    with pytest.raises(SystemExit) as exit_info:
        ap.parse_args(["--actor-model", "m", "--actor-type", "vllm"])  # an engine name in the wrong flag
    assert exit_info.value.code == 2
    assert "'vllm' is not a prompt format" in capsys.readouterr().err


def test_engines_are_context_managers():
    with ScriptedEngine(lambda p, k: "x") as engine:
        assert engine.generate([Prompt(({"role": "user", "content": "q"},))], SamplingParams())[0][0].text == "x"
    assert engine.closed
    with pytest.raises(RuntimeError, match="closed"):
        engine.generate([], SamplingParams())
    with pytest.raises(ValueError), ScriptedEngine(lambda p, k: "x") as failing:
        raise ValueError("stage failed")
    assert failing.closed  # closed on the way out of an error too


def test_shared_engines_are_cached_and_closed_explicitly(recorder):
    a = shared_engine(model=recorder, engine="recorder", seed=1)
    assert shared_engine(model=recorder, engine="recorder", seed=1) is a
    b = shared_engine(model=recorder, engine="recorder", seed=2)
    assert isinstance(a, Recorder) and isinstance(b, Recorder)
    assert b is not a and len(Recorder.built) == 2
    close_shared_engines()
    assert (a.closes, b.closes) == (1, 1)
    c = shared_engine(model=recorder, engine="recorder", seed=1)
    assert isinstance(c, Recorder)
    assert c is not a and c.closes == 0  # built afresh after closing
    close_shared_engines()
    close_shared_engines()  # nothing left: harmless
    assert c.closes == 1


def test_shared_engines_are_closed_at_exit(tmp_path):
    marker = tmp_path / "closed.txt"
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from selfimprove.generation.engines import ENGINE_CLASSES, Engine, shared_engine

        class Marker(Engine):
            @classmethod
            def from_settings(cls, settings):
                return cls()
            def generate(self, prompts, params):
                return []
            def close(self):
                Path({str(marker)!r}).write_text("closed")

        ENGINE_CLASSES["marker"] = Marker
        shared_engine(model={str(tmp_path / "model")!r}, engine="marker")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT, timeout=120)
    assert marker.read_text() == "closed"


def test_engine_and_tp_defaults_are_the_knobs_read_when_the_options_are_used(monkeypatch):
    monkeypatch.delenv("PRESET", raising=False)
    monkeypatch.setenv("ENGINE", "auto")
    monkeypatch.setenv("TP_SIZE", "1")
    ap = argparse.ArgumentParser()
    add_engine_args(ap, "actor")  # building the parser reads no environment variable
    monkeypatch.setenv("ENGINE", "hf")
    monkeypatch.setenv("TP_SIZE", "3")
    args = ap.parse_args(["--actor-model", "m"])
    assert args.actor_engine is None and args.actor_tp is None
    kw = engine_kwargs(args, "actor")
    assert (kw["engine"], kw["tp"]) == ("hf", 3)
    kw = engine_kwargs(ap.parse_args(["--actor-model", "m", "--actor-engine", "vllm", "--actor-tp", "2"]), "actor")
    assert (kw["engine"], kw["tp"]) == ("vllm", 2)
    monkeypatch.setenv("TP_SIZE", "zero")
    with pytest.raises(UsageError, match="TP_SIZE='zero'"):
        engine_kwargs(args, "actor")
