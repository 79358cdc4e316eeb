"""Social-media graphs built incrementally from events.

The follow graph (``u -> v``: u follows v, edge attribute ``created``) and the
interaction graph (``u -> v`` weighted by u's likes, dislikes, reposts and replies of
v's posts) are fed event by event. Activity is content created (posts, replies,
reposts) per simulated day; influence is likes and reposts received (Orlando, La Gatta,
Russo & Moscato, WebSci 2025).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx

from gamemaster.api import Event

CONTENT = ("post", "reply", "repost")
INTERACTIONS = ("like", "dislike", "repost", "reply")
DAY = 86400.0


class SocialGraphs:
    """Follow and interaction graphs plus activity and influence counts, fed by events."""

    def __init__(self, agents: Iterable[str] = ()) -> None:
        self.follow = nx.DiGraph()
        self.interactions = nx.DiGraph()
        self.follow.add_nodes_from(agents)
        self.interactions.add_nodes_from(agents)
        self.content: dict[str, int] = defaultdict(int)
        self.influence: dict[str, float] = defaultdict(float)

    def apply(self, event: Event) -> None:
        """Update the graphs with one event."""
        actor, target, kind = event.actor, event.target, event.kind
        if actor is None:
            return
        self.follow.add_node(actor)
        if kind in CONTENT:
            self.content[actor] += 1
        if target is None or target == actor:
            return
        if kind == "follow":
            self.follow.add_edge(actor, target, created=event.t)
        elif kind == "unfollow" and self.follow.has_edge(actor, target):
            self.follow.remove_edge(actor, target)
        elif kind in INTERACTIONS:
            weight = self.interactions.get_edge_data(actor, target, {"weight": 0})["weight"]
            self.interactions.add_edge(actor, target, weight=weight + 1)
            if kind in ("like", "repost"):
                self.influence[target] += 1

    def activity(self, elapsed: float) -> dict[str, float]:
        """Content created per simulated day, per node."""
        days = max(elapsed / DAY, 1e-9)
        return {n: self.content.get(n, 0) / days for n in self.follow}

    def influence_of(self) -> dict[str, float]:
        """Likes and reposts received, per node."""
        return {n: self.influence.get(n, 0.0) for n in self.follow}


def graphs_at(
    events: Iterable[Event], t: float | None = None, agents: Iterable[str] = ()
) -> SocialGraphs:
    """The graphs as they stood at simulated time ``t`` (None: after every event)."""
    graphs = SocialGraphs(agents)
    for event in events:
        if t is not None and event.t > t:
            break
        graphs.apply(event)
    return graphs


def follow_graph(
    graphs: SocialGraphs, agents: Mapping[str, Mapping[str, Any]], elapsed: float
) -> nx.DiGraph:
    """The follow graph with node attributes for Gephi or Cytoscape.

    Node attributes: persona fields (``description``, ``interests``, ``trait_<key>``),
    ``activity`` (content per simulated day), ``influence``, ``followers`` and
    ``following``; edge attribute ``created`` (simulated time of the follow).
    """
    G = graphs.follow.copy()
    activity, influence = graphs.activity(elapsed), graphs.influence_of()
    for node in G:
        persona = agents.get(node, {})
        attributes: dict[str, Any] = {
            "description": str(persona.get("description", "")),
            "interests": "; ".join(persona.get("interests", [])),
            "activity": activity.get(node, 0.0),
            "influence": influence.get(node, 0.0),
            "followers": G.in_degree(node),
            "following": G.out_degree(node),
        }
        for key, value in (persona.get("traits") or {}).items():
            attributes[f"trait_{key}"] = (
                value if isinstance(value, int | float | bool) else str(value)
            )
        G.nodes[node].update(attributes)
    for _, _, data in G.edges(data=True):
        data["created"] = float(data.get("created", 0.0))
    return G
