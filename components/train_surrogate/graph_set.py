"""The flat graph format itself: every frame's nodes and edges as rows, and the views the stages take of it
(subsets of frames, pieces of a box, counted nodes). ``graphs.py`` builds it from particle data."""
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class GraphSet:
    """Graphs of one split as flat rows.

    edge_x: [edge, edge feature]; receiver, sender: [edge], node rows; edge_offsets: [graph + 1] (graph g's
    edges are rows edge_offsets[g]:edge_offsets[g+1]); node_x: [node, node feature]; node_target: [node,
    target component]; body: [node], the body's index in the data (its latent parameters); node_offsets:
    [graph + 1]; sim, time: [graph].
    """

    edge_x: np.ndarray
    receiver: np.ndarray
    sender: np.ndarray
    edge_offsets: np.ndarray
    node_x: np.ndarray
    node_target: np.ndarray
    body: np.ndarray
    node_offsets: np.ndarray
    sim: np.ndarray
    time: np.ndarray
    edge_features: tuple[str, ...]
    node_features: tuple[str, ...]
    target_names: tuple[str, ...]
    node_mask: np.ndarray | None = None  # [node]: the nodes whose errors count (None: all); the others only send
    per_node: bool = False  # errors are measured per counted node (a node split), else per frame

    def __len__(self) -> int:
        return len(self.sim)

    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    @property
    def n_edges(self) -> int:
        return len(self.edge_x)

    @property
    def node_graph(self) -> np.ndarray:
        """[node]: the graph each node belongs to."""
        return np.repeat(np.arange(len(self)), np.diff(self.node_offsets))

    @property
    def edge_graph(self) -> np.ndarray:
        return np.repeat(np.arange(len(self)), np.diff(self.edge_offsets))

    @property
    def bodies_per_graph(self) -> int:
        """The number of nodes of every graph; a ValueError if graphs differ in size."""
        sizes = np.diff(self.node_offsets)
        if self.ragged:
            raise ValueError(f"graphs hold {sizes.min()} to {sizes.max()} nodes; this needs equal-sized graphs")
        return int(sizes[0]) if len(sizes) else 0

    @property
    def output_shape(self) -> tuple[int, int]:
        """(graph, body) of per-node outputs. With a node split the rows are nodes, and graphs may differ in
        size (pieces of a box, ``around``): then the outputs are one row of all nodes."""
        if self.per_node and self.ragged:
            return 1, self.n_nodes
        return len(self), self.bodies_per_graph

    def per_graph(self, values: np.ndarray) -> np.ndarray:
        """[node, ...] values as [graph, body, ...] (``output_shape``: one row of nodes if graphs differ in size)."""
        return np.asarray(values).reshape(*self.output_shape, *np.shape(values)[1:])

    @property
    def counted(self) -> np.ndarray:
        """[node] bool: the nodes whose errors count."""
        return np.ones(self.n_nodes, dtype=bool) if self.node_mask is None else self.node_mask

    def with_mask(self, node_mask: np.ndarray, per_node: bool) -> "GraphSet":
        """Only ``node_mask``'s nodes count; per node if ``per_node`` or if graphs differ in size."""
        return replace(self, node_mask=np.asarray(node_mask, dtype=bool).reshape(self.n_nodes),
                       per_node=per_node or self.ragged)

    @property
    def ragged(self) -> bool:
        """Graphs hold different numbers of nodes (bodies absent from some frames)."""
        sizes = np.diff(self.node_offsets)
        return bool(len(sizes) and (sizes != sizes[0]).any())

    def trimmed(self) -> "GraphSet":
        """Without the edges into nodes that do not count: a node's output depends only on its own incoming
        edges, so every counted output, loss and fit is unchanged, at the cost of the counted edges."""
        keep = self.counted[self.receiver]
        if keep.all():
            return self
        counts = np.bincount(self.edge_graph[keep], minlength=len(self))
        return replace(self, edge_x=self.edge_x[keep], receiver=self.receiver[keep], sender=self.sender[keep],
                       edge_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    def rows(self, values):
        """Values [graph, body, ...] or [node, ...] (numpy or torch) as the rows errors are measured on:
        [frame, body, ...] when frames are the unit, [counted node, 1, ...] when nodes are."""
        if not self.per_node:
            return values.reshape(len(self), self.bodies_per_graph, *values.shape[-1:])
        return values.reshape(self.n_nodes, values.shape[-1])[np.flatnonzero(self.counted)][:, None, :]

    @property
    def target(self) -> np.ndarray:
        """[graph, body, target component]."""
        return self.per_graph(self.node_target)

    def with_target(self, values: np.ndarray) -> "GraphSet":
        """The same graphs with other targets, given [graph, body, component] or [node, component]."""
        values = np.asarray(values)
        return replace(self, node_target=values.reshape(self.n_nodes, -1).astype(self.node_target.dtype))

    def incoming_edge_offsets(self) -> np.ndarray:
        """[node + 1]: node n's incoming edges are rows offsets[n]:offsets[n + 1] (edges are sorted by receiver)."""
        return np.searchsorted(self.receiver, np.arange(self.n_nodes + 1))

    def around(self, nodes: np.ndarray) -> "GraphSet":
        """The node rows ``nodes`` (sorted) as the counted nodes, with their incoming edges and, uncounted, the
        senders of those edges: all their outputs depend on, renumbered, for working on a large box in pieces."""
        nodes = np.asarray(nodes, dtype=np.int64)
        edges, _ = rows_of(self.incoming_edge_offsets(), nodes)
        keep = np.union1d(nodes, self.sender[edges])
        node_offsets = np.concatenate([[0], np.cumsum(np.bincount(self.node_graph[keep], minlength=len(self)))])
        edge_offsets = np.concatenate([[0], np.cumsum(np.bincount(self.edge_graph[edges], minlength=len(self)))])
        return replace(self, edge_x=self.edge_x[edges], receiver=np.searchsorted(keep, self.receiver[edges]),
                       sender=np.searchsorted(keep, self.sender[edges]), edge_offsets=edge_offsets.astype(np.int64),
                       node_x=self.node_x[keep], node_target=self.node_target[keep], body=self.body[keep],
                       node_offsets=node_offsets.astype(np.int64), node_mask=np.isin(keep, nodes), per_node=True)

    def spread(self, limit: int) -> "GraphSet":
        """At most ``limit`` graphs, evenly spread over the set (over simulations and times)."""
        return self.subset(evenly_spread(len(self), limit))

    def subset(self, index) -> "GraphSet":
        """The graphs ``index`` (a slice, an index array or a mask), their node and edge rows renumbered."""
        graphs = np.arange(len(self))[index]
        nodes, node_offsets = rows_of(self.node_offsets, graphs)
        edges, edge_offsets = rows_of(self.edge_offsets, graphs)
        shift = np.repeat(node_offsets[:-1] - self.node_offsets[graphs], np.diff(edge_offsets))
        return GraphSet(self.edge_x[edges], self.receiver[edges] + shift, self.sender[edges] + shift, edge_offsets,
                        self.node_x[nodes], self.node_target[nodes], self.body[nodes], node_offsets,
                        self.sim[graphs], self.time[graphs], self.edge_features, self.node_features,
                        self.target_names, None if self.node_mask is None else self.node_mask[nodes], self.per_node)


def evenly_spread(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` of the indices 0 .. n-1, evenly spaced, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, limit)).astype(int))


def rows_of(offsets: np.ndarray, graphs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``graphs`` in order, their new offsets) for rows laid out by ``offsets``."""
    starts, counts = offsets[graphs], offsets[graphs + 1] - offsets[graphs]
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return np.repeat(starts - new_offsets[:-1], counts) + np.arange(new_offsets[-1]), new_offsets
