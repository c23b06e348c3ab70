"""Switch graph and shortest paths (hop count), from the domain file's links.

Next hops are computed once with a BFS from every switch; ties are broken by neighbour name so
that every switch agrees and label-switched paths never loop.
"""

from __future__ import annotations

from collections import deque

from controller.config import Domain


class Topology:
    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.adj: dict[str, dict[str, int]] = {name: {} for name in domain.switches}
        for link in domain.links:
            self.adj[link.a][link.b] = link.a_port
            self.adj[link.b][link.a] = link.b_port
        # parent[dst][node] = the neighbour of node on a shortest path toward dst
        self._toward: dict[str, dict[str, str]] = {dst: self._bfs(dst) for dst in domain.switches}

    def _bfs(self, dst: str) -> dict[str, str]:
        toward: dict[str, str] = {}
        seen = {dst}
        queue = deque([dst])
        while queue:
            node = queue.popleft()
            for nb in sorted(self.adj[node]):
                if nb not in seen:
                    seen.add(nb)
                    toward[nb] = node
                    queue.append(nb)
        return toward

    def next_hop(self, src: str, dst: str) -> str | None:
        if src == dst:
            return None
        return self._toward[dst].get(src)

    def port_toward(self, src: str, dst: str) -> int | None:
        """The port on ``src`` of the first link on a shortest path to ``dst``."""
        nb = self.next_hop(src, dst)
        return None if nb is None else self.adj[src][nb]

    def path(self, src: str, dst: str) -> list[str]:
        hops = [src]
        while hops[-1] != dst:
            nb = self.next_hop(hops[-1], dst)
            if nb is None:
                raise ValueError(f"no path from {src} to {dst}")
            hops.append(nb)
        return hops

    def neighbour_on_port(self, switch: str, port: int) -> str | None:
        for nb, p in self.adj[switch].items():
            if p == port:
                return nb
        return None
