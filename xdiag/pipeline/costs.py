"""HLO module costs by fingerprint, computed once and kept (`analysis.hlo_costs.CostCache`).

In the store (`layout.hlo_costs_key`), shared by every ingest of every replica:
repeated captures of one job reuse them. The last few are also kept in memory
(`CostMemo`, one per ingest runner, or per process of its pool): decoding a train
step's costs takes tens of ms, and the service ingests the same job's captures again
and again. Costs are immutable per fingerprint (a hash of the module's bytes) and
read-only to their users.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from xdiag.core.errors import NotFound, XdiagError
from xdiag.store import ObjectStore, layout


class CostMemo:
    ENTRIES = 16

    def __init__(self) -> None:
        self._items: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, fingerprint: str) -> dict[str, Any] | None:
        with self._lock:
            costs = self._items.get(fingerprint)
            if costs is not None:
                self._items.move_to_end(fingerprint)
            return costs

    def put(self, fingerprint: str, costs: dict[str, Any]) -> None:
        with self._lock:
            self._items[fingerprint] = costs
            self._items.move_to_end(fingerprint)
            while len(self._items) > self.ENTRIES:
                self._items.popitem(last=False)


class StoreCostCache:
    def __init__(self, store: ObjectStore, memo: CostMemo) -> None:
        self.store, self.memo = store, memo

    def get(self, fingerprint: str) -> dict[str, Any] | None:
        costs = self.memo.get(fingerprint)
        if costs is not None:
            return costs
        try:
            costs = self.store.read_json(layout.hlo_costs_key(fingerprint))
        except (NotFound, ValueError):
            return None
        self.memo.put(fingerprint, costs)
        return costs

    def put(self, fingerprint: str, costs: dict[str, Any]) -> None:
        try:
            self.store.write_json(layout.hlo_costs_key(fingerprint), costs, if_generation=0)
        except XdiagError:
            pass  # another ingest stored the same costs first
        self.memo.put(fingerprint, costs)
