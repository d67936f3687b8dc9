"""Each setting arrives once: only the commands (``stages/``) and ``core/`` (the configuration and
the command line) read project settings. The library below them takes every value as a parameter:
it never calls the configuration loader (``selfimprove.core.config.load``) and reads from the
environment only variables of the libraries it drives (CUDA, vLLM, Ray, Hugging Face, ...)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "selfimprove"
#: where settings may be read
READERS = ("core", "stages")
#: environment variables of third-party libraries, which the library may read or set
THIRD_PARTY = ("CUDA_", "VLLM_", "RAY_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "TORCH", "PYTORCH_", "OMP_", "NCCL_")
#: a variable named at run time, by file: the OpenAI-compatible engine reads the API key from the
#: variable its --<role>-api-key-env option names (a credential, not a project setting)
DYNAMIC_NAME_ALLOWED = {"generation/engines/openai.py"}
LOADER = "selfimprove.core.config"


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name)


def _env_name(node: ast.AST) -> tuple[bool, str | None] | None:
    """``(True, name)`` when ``node`` reads or writes one environment variable (name None: named at
    run time); None otherwise."""
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        key = node.slice
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        f = node.func
        is_getenv = f.attr in ("getenv", "putenv") and isinstance(f.value, ast.Name) and f.value.id == "os"
        if not (is_getenv or (_is_environ(f.value) and f.attr in ("get", "setdefault", "pop"))):
            return None
        if not node.args:
            return None
        key = node.args[0]
    else:
        return None
    return True, key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None


def violations(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in READERS or "/" not in rel:  # core, stages, the package root (entry point)
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        config_aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "selfimprove.core":
                config_aliases |= {a.asname or a.name for a in node.names if a.name == "config"}
            elif isinstance(node, ast.Import):
                config_aliases |= {a.asname for a in node.names if a.name == LOADER and a.asname}
            if isinstance(node, ast.ImportFrom) and node.module == LOADER and any(a.name == "load" for a in node.names):
                found.append(f"{rel}:{node.lineno}: imports the configuration loader")
        for node in ast.walk(tree):
            f = node.func if isinstance(node, ast.Call) else None
            if isinstance(f, ast.Attribute) and f.attr == "load" and isinstance(f.value, ast.Name):
                if f.value.id in config_aliases:
                    found.append(f"{rel}:{getattr(node, 'lineno', 0)}: calls the configuration loader")
            env = _env_name(node)
            if env is None:
                continue
            name = env[1]
            if name is None and rel not in DYNAMIC_NAME_ALLOWED:
                found.append(f"{rel}:{getattr(node, 'lineno', 0)}: reads an environment variable named at run time")
            elif name is not None and not name.startswith(THIRD_PARTY):
                found.append(f"{rel}:{getattr(node, 'lineno', 0)}: reads the project setting ${name}")
    return found


def test_the_checker_finds_loader_calls_and_setting_reads(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "ok.py").write_text("import os\nx = os.environ['DATA_DIR']\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bad.py").write_text(
        "import os\nfrom selfimprove.core import config as C\n"
        "a = os.environ.get('DATA_DIR')\nb = os.getenv('PRESET')\nc = C.load()\n"
        "d = os.environ.get('CUDA_VISIBLE_DEVICES')\ne = os.environ['VLLM_X']\nf = dict(os.environ)\n"
    )
    assert violations(tmp_path) == [
        "data/bad.py:3: reads the project setting $DATA_DIR",
        "data/bad.py:4: reads the project setting $PRESET",
        "data/bad.py:5: calls the configuration loader",
    ]


def test_library_code_reads_no_setting_and_calls_no_loader():
    assert violations(PACKAGE) == []


def test_the_commands_apply_the_process_switches_from_the_environment():
    from selfimprove.generation.engines import idle
    from selfimprove.grading import timeout
    from selfimprove.stages import configure_process

    try:
        configure_process({"SELFIMPROVE_SUSPEND_IDLE": "0", "GRADER_SYMBOLIC_WORKERS": "5"})
        assert not idle.enabled() and timeout._CONFIGURED_SIZE == 5
    finally:
        configure_process({})
    assert timeout._CONFIGURED_SIZE == 0 and idle._enabled
