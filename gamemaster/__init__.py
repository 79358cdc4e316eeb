"""Game masters: typed world state and the resolution of agents' actions."""
