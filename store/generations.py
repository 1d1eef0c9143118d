"""Generations of one index: re-embedding every song (another profile, `index --rebuild`) writes a new set of
collections while the current set keeps answering searches, and swaps them at the end.

The first generation's collections are named `<base>_songs`, `<base>_windows`, ...; later ones
`<base>_g2_songs`, `<base>_g3_songs`, ... One row in the collection `<base>_generations` records which
generation is active, which one is being filled (pending, with the model versions it is for) and which
one was retired but not yet dropped. Writing that row is the swap: Milvus Lite cannot rename
collections, and one upsert is atomic, so a process killed at any moment leaves either the old index
active (a rerun resumes filling the pending one) or the new one (a rerun drops what is left of the old).
"""

from __future__ import annotations

import copy
import json

from . import schema

STATE_KEY = "state"


class StoreGenerations:
    """The generation half of `VectorStore` (store/milvus.py): which collections `prefix` names."""

    base: str  # the configured collection prefix
    prefix: str  # this store's generation: `base` or `<base>_gN`
    switching: bool = False  # True on the store of a pending generation, until `finish_switch`

    @property
    def generations(self) -> str:
        return f"{self.base}_generations"

    def generation_state(self) -> dict:
        """{"active": prefix, "pending": {"prefix", "versions"} or None, "retired": prefix or None, "next": n};
        empty for an index that never switched."""
        if not self.client.has_collection(self.generations):
            return {}
        self.client.load_collection(self.generations)
        rows = self.client.query(self.generations, filter=f'key == "{STATE_KEY}"', output_fields=["value"],
                                 consistency_level="Strong")
        return json.loads(rows[0]["value"]) if rows else {}

    def _write_generation_state(self, state: dict) -> None:
        if not self.client.has_collection(self.generations):
            self._create(self.generations, schema.meta_schema(), ["placeholder"])
            self.client.load_collection(self.generations)
        self.client.upsert(self.generations, [{"key": STATE_KEY, "value": json.dumps(state), "placeholder": [1.0, 0.0]}])
        if not self.is_server:
            self.client.flush(self.generations)

    def _generation(self, prefix: str, switching: bool = False):
        """The store of another generation of this index, on the same connection."""
        other = copy.copy(self)
        other.prefix, other.switching = prefix, switching
        other.vector_fields, other._deleted_last = {}, set()
        return other

    def active_generation(self):
        """The store of the active generation (the one searches read)."""
        other = self._generation(self.generation_state().get("active", self.base))
        if other.exists():
            for name in other._all_collections():
                self.client.load_collection(name)
        return other

    def switch_to(self, versions: dict):
        """The store of the pending generation for these model versions: the one a killed run left (resumed),
        or a new empty one (a pending generation for other versions is dropped). The active one stays as it is."""
        state = self.generation_state()
        pending = state.get("pending")
        if pending and pending["versions"] == versions:
            return self._generation(pending["prefix"], switching=True)
        self.drop_pending()
        state = self.generation_state()
        number = state.get("next", 2)
        prefix = f"{self.base}_g{number}"
        self._generation(prefix).drop()  # leftovers of a generation whose record was lost
        self._write_generation_state({**state, "active": self.prefix, "next": number + 1,
                                      "pending": {"prefix": prefix, "versions": versions}})
        return self._generation(prefix, switching=True)

    def drop_pending(self) -> str | None:
        """Drop a pending generation (a switch abandoned for another); returns its prefix."""
        state = self.generation_state()
        pending = state.get("pending")
        if not pending:
            return None
        self._generation(pending["prefix"]).drop()
        self._write_generation_state({**state, "pending": None})
        return pending["prefix"]

    def finish_switch(self, after_swap=None) -> str:
        """Make this pending generation the active one, then drop the one it replaces; returns that one's
        prefix. `after_swap` (a callable) runs between the two, where a crash leaves the old one to drop."""
        state = self.generation_state()
        old = state.get("active", self.base)
        self._write_generation_state({**state, "active": self.prefix, "pending": None, "retired": old})
        self.switching = False
        if after_swap is not None:
            after_swap()
        self.drop_retired()
        return old

    def drop_retired(self) -> str | None:
        """Drop the collections of a generation that a swap retired (left by a run killed right after the swap);
        returns its prefix."""
        state = self.generation_state()
        retired = state.get("retired")
        if not retired:
            return None
        self._generation(retired).drop()
        self._write_generation_state({**state, "retired": None})
        return retired
