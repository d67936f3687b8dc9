"""Behaviour unchanged: the test-time evaluation flow, run with scripted engines on fixed questions
and a fixed seed, writes exactly the files of the checked-in snapshot (``tests/data/snapshot_eval/``).

A refactor that changes any generated record or any number of ``results.json`` fails here. Paths
of the temporary folder and timings are normalised before comparing. When a change of the
outputs is intended, rewrite the snapshot with ``python tests/test_behaviour_snapshot.py`` and
review its diff.
"""

from __future__ import annotations

import json
from pathlib import Path

from selfimprove.core.records import Question
from selfimprove.critic.test_time import TestTimeConfig, evaluate_test_time
from selfimprove.generation.engines import ScriptedEngine
from selfimprove.generation.prompts import Prompt

SNAPSHOT = Path(__file__).resolve().parent / "data" / "snapshot_eval"
QUESTIONS: list[Question] = [
    {"id": "t/0", "dataset": "toy", "dataset_type": "gsm8k", "question": "What is 2 + 3?", "gold": "5", "level": 1},
    {"id": "t/1", "dataset": "toy", "dataset_type": "gsm8k", "question": "What is 4 * 6?", "gold": "24", "level": 2},
    {"id": "t/2", "dataset": "toy", "dataset_type": "math", "question": "What is 7 - 9?", "gold": "-2", "level": 3},
]
#: per question, the pool's answers by sample index; a refinement answers REFINED
POOL = {"2 + 3": ["5", "6", "6", "5"], "4 * 6": ["24", "24", "23", "24"], "7 - 9": ["2", "-2", "2", "16"]}
REFINED = {"2 + 3": "5", "4 * 6": "25", "7 - 9": "-2"}
WRONG = ("answer is 6.", "answer is 2.", "answer is 16.", "answer is 25.")
TIMING_KEYS = {"seconds", "elapsed", "wall_seconds", "load_seconds", "started", "finished", "time"}


def actor() -> ScriptedEngine:
    def respond(p: Prompt, k: int) -> str:
        key = next(x for x in POOL if x in p.messages[0]["content"])
        answer = REFINED[key] if len(p.messages) == 3 else POOL[key][k % 4]
        return f"Compute {key}.\nThe answer is {answer}."

    return ScriptedEngine(respond, name="actor")


def critic() -> ScriptedEngine:
    """Judges by the answer; on 23 it writes no verdict (a format violation)."""

    def respond(p: Prompt, k: int) -> str:
        solution = p.messages[0]["content"].split("Solution:\n", 1)[1]
        if "answer is 23." in solution:
            return "Looks like a computation."
        verdict = "Wrong" if any(w in solution for w in WRONG) else "Correct"
        return f"Step sentence: {solution.splitlines()[0]}\nCorrectness of the step: {verdict}\nExplanation: e\n\n" + (
            f"Correctness of the final answer: {verdict}\nExplanation: e"
        )

    return ScriptedEngine(respond, name="critic")


def run_flow(out_dir: Path) -> None:
    cfg = TestTimeConfig(
        questions="questions.jsonl",
        out_dir=out_dir,
        actor_model="actor",
        critic_model="critic",
        use_critic=True,
        pool_size=4,
        temperature=0.7,
        top_p=1.0,
        max_tokens=64,
        critic_temperature=0.0,
        critic_max_tokens=64,
        rounds=2,
        sequential_mode="verifier",
        sequential_chains=2,
        only_final_sequential=False,
        grader="default",
        voting="equivalence",
        seed=7,
        chunk_size=4,
        grade_workers=0,
    )
    evaluate_test_time(cfg, QUESTIONS, actor(), critic)


def _scrub(value, folder: str):
    if isinstance(value, dict):
        return {k: ("<timing>" if k in TIMING_KEYS else _scrub(v, folder)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, folder) for v in value]
    if isinstance(value, str):
        return value.replace(folder, "<out>")
    return value


def normalised(out_dir: Path) -> dict[str, object]:
    """Every file of the folder, parsed (JSON, or JSONL as a list), paths and timings normalised."""
    files: dict[str, object] = {}
    for path in sorted(out_dir.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            data: object = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = text
        files[path.relative_to(out_dir).as_posix()] = _scrub(data, str(out_dir))
    return files


def write_snapshot() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        run_flow(Path(tmp) / "eval")
        files = normalised(Path(tmp) / "eval")
    if SNAPSHOT.exists():
        for old in SNAPSHOT.iterdir():
            old.unlink()
    SNAPSHOT.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (SNAPSHOT / (name.replace("/", "__") + ".json")).write_text(
            json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def test_the_evaluation_flow_writes_the_snapshot(tmp_path):
    run_flow(tmp_path / "eval")
    got = normalised(tmp_path / "eval")
    expected = {p.name.removesuffix(".json").replace("__", "/"): json.loads(p.read_text()) for p in SNAPSHOT.iterdir()}
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], f"{name} differs from the snapshot in {SNAPSHOT}"


if __name__ == "__main__":
    write_snapshot()
