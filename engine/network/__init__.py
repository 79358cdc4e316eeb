"""Network layer: interaction graphs and their statistics, computed from events."""
