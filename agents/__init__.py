"""Generative agents: persona, associative memory, decision prompts."""
