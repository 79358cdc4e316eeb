"""socium's engine: kernel, scenario files, language models, run store, network layer, CLI."""

__version__ = "0.1.0"
