"""One player: self-correction fine-tuning and self-talk chains built from step-level critiques.

* :mod:`.chains` — self-talk construction: initial step-level critiques, iterative
  refine-and-critique at the first wrong step, regeneration of the rest, final verification;
* :mod:`.smoothing` — the chain as one self-talk monologue (template or LLM);
* :mod:`.judges` — step judges: a plain function, the programmatic annotator, a model critic;
* :mod:`.selfcorrect` — trajectory-level self-correction data and the test-time mode;
* :mod:`.table` — the one-player comparison (self-talk, self-correction, SFT + critic).
"""
