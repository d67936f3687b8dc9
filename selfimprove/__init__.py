"""MathCritique: critique models for LLM math reasoning at test time and training time.

A reimplementation of "Enhancing LLM Reasoning via Critique Models with Test-Time and
Training-Time Supervision" (arXiv 2411.16579) as a shell-orchestrated pipeline of small
Python stages.
"""

__version__ = "0.1.0"
