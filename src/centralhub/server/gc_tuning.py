"""How the hub's process sets up Python's cyclic garbage collector once it serves.

A collection stops the event loop, so its pauses land on whichever requests are waiting: they
are the tail of the discovery latency. Two things keep them short and rare:

* what exists once the hub has started (the app, the loaded registry, imported modules) lives
  as long as the process; frozen, it is never scanned again, where a full collection would
  otherwise walk all of it, more as the registry grows;
* a request's own objects die by reference counting as soon as it is answered, so the
  collector has little to find among new objects; with Python's default of a young collection
  every 700 net allocations (and a full one after 100 young ones), a burst of registrations
  triggers full collections of everything registered since start, each one a pause of tens to
  hundreds of milliseconds. Collecting the young generation every :data:`YOUNG_THRESHOLD`
  allocations instead makes those collections about fourteen times rarer; cycles among young
  objects are still found within a collection or two, and long-lived cycles (rare here: the
  registry holds plain records) wait for a full collection a little longer.
"""

from __future__ import annotations

import gc

#: allocations between two collections of the youngest generation (Python's default: 700)
YOUNG_THRESHOLD = 10_000
#: young collections between two of the middle generation (default 10)
MIDDLE_THRESHOLD = 20
#: middle collections between two full ones (default 10; Python also waits until a quarter of
#: the long-lived objects are new since the last full collection)
OLD_THRESHOLD = 100


def freeze_started_hub() -> None:
    """Exempt everything that exists now from collection; call once the hub has started."""
    gc.freeze()


def space_out_collections() -> None:
    """Apply the hub's thresholds to this process. ``centralhub serve`` does it: the process is
    the hub's own; an application that only embeds ``create_app`` keeps its own policy."""
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
