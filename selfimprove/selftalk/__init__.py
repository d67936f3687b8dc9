"""One player: self-correction fine-tuning and self-talk chains built from step-level critiques.

* :mod:`.chains` — self-talk construction: initial step-level critiques, iterative
  refine-and-critique at the first wrong step, regeneration of the rest, final verification;
* :mod:`.build` — chains over a file of initial solutions (resumable), graded, smoothed, exported;
* :mod:`.smoothing` — the chain as one self-talk monologue (template or LLM);
* :mod:`.judges` — step judges: a plain function, a model critic, the programmatic critic
  (:mod:`selfimprove.critic.programmatic`);
* :mod:`.selfcorrect` — trajectory-level self-correction data and the test-time mode;
* :mod:`.rows`, :mod:`.table` — the one-player comparison (self-talk, self-correction, SFT + critic);
* :mod:`.prompts`, :mod:`.steps`, :mod:`.sft` — texts, step splitting, fine-tuning files.

See docs/selftalk.md.
"""
