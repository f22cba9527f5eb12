"""Weighted round robin among the partners a lead matches, continuing across runs.

Each candidate set (the partners a group matched for a lead, with their weights) has a fixed, smooth
sequence: every partner appears `weight` times per cycle, spread evenly (stride scheduling: partner j's
t-th turn sits at (t + ½) / weight_j, ties in YAML order). A stored pointer says which slot of the cycle
comes next; leads take slots in their arrival order, so the same input always gives the same answer and a
restart continues where the last run stopped.

The pointer is kept per source and candidate set. Arrival order is defined within a source (its batches and
rows); between sources there is none: their routing steps run side by side on the scale profile's workers
and take the routing section in whatever order they reach it (a retried step comes last). A pointer shared
by every source would hand a lead a different slot depending on that order; one per source makes a source's
decisions depend on its own leads alone. Each partner still gets its weighted share of every source's leads
(within one cycle per source).

Capacity: a partner at its capacity (open leads) is skipped — its slots are passed over — and the pointer
still advances over them, so the cycle's fairness for everyone else is unchanged.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from leadsync.config.partners import Partner


def set_key(partners: Sequence[Partner], source: str) -> str:
    """Identity of a round-robin cycle: the source whose leads it shares and the candidate set's partners and
    weights (a weight change starts a new cycle)."""
    text = source + "|" + ",".join(f"{p.id}:{p.weight}" for p in partners)
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def sequence(weights: Sequence[int]) -> np.ndarray:
    """Partner positions (indexes into weights) of one cycle, smooth for any weights (read-only: cycles of
    the same weights are shared, a routing call meets thousands of candidate sets)."""
    return _cycle(tuple(int(w) for w in weights))


@functools.lru_cache(maxsize=8192)
def _cycle(weights: tuple[int, ...]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.int64)
    owners = np.repeat(np.arange(len(w)), w)
    turn = np.arange(len(owners)) - np.repeat(np.cumsum(w) - w, w)
    at = (turn + 0.5) / w[owners]
    cycle = owners[np.lexsort((owners, at))]
    cycle.flags.writeable = False
    return cycle


@dataclass
class Allocation:
    partner_pos: np.ndarray  # per lead: index into the set's partners, or -1 when none had capacity
    slot: np.ndarray  # per lead: the cycle slot it took (-1 when none)
    next_slot: int  # pointer to store


def allocate(n: int, weights: Sequence[int], start: int, room: Sequence[float]) -> Allocation:
    """Give n leads (in arrival order) their slots from `start`, skipping partners without room.
    `room[j]` is how many more leads partner j may take (inf: no limit). Vectorised per capacity event:
    at most one pass per partner that fills up."""
    seq = sequence(weights)
    length = len(seq)
    room = np.asarray(room, dtype=float).copy()
    out_pos = np.full(n, -1, dtype=np.int64)
    out_slot = np.full(n, -1, dtype=np.int64)
    pointer = start % length
    done = 0
    while done < n:
        open_slots = np.flatnonzero(room[seq] > 0)
        if not len(open_slots):
            break  # everyone is full: the rest get no partner from this set
        # the cycle's open slots, in order from the pointer
        order = np.concatenate([open_slots[open_slots >= pointer], open_slots[open_slots < pointer] + length])
        todo = n - done
        reps = -(-todo // len(order))
        absolute = (np.tile(order, reps) + np.repeat(np.arange(reps) * length, len(order)))[:todo]
        owners = seq[absolute % length]
        taken = np.zeros(len(weights), dtype=np.int64)
        # first lead at which some partner would exceed its room
        counts_before = _running_count(owners, len(weights))
        over = counts_before >= room[owners]
        cut = int(np.argmax(over)) if over.any() else todo
        out_pos[done:done + cut] = owners[:cut]
        out_slot[done:done + cut] = absolute[:cut] % length
        np.add.at(taken, owners[:cut], 1)
        room -= taken
        if cut:
            pointer = int(absolute[cut - 1] + 1) % length
        done += cut
        if cut < todo:
            room[owners[cut]] = 0  # that partner is full now: skip its slots from here on
    return Allocation(out_pos, out_slot, pointer)


def _running_count(owners: np.ndarray, k: int) -> np.ndarray:
    """For each position, how many earlier positions have the same owner."""
    order = np.argsort(owners, kind="stable")
    sorted_owners = owners[order]
    starts = np.searchsorted(sorted_owners, np.arange(k))
    rank_sorted = np.arange(len(owners)) - starts[sorted_owners]
    out = np.empty(len(owners), dtype=np.int64)
    out[order] = rank_sorted
    return out


def allocate_unlimited(ranks: np.ndarray, set_ids: np.ndarray, seqs: list[np.ndarray], starts: np.ndarray):
    """Vectorised allocation for many sets at once when no partner in them has a capacity:
    lead with rank r in its set takes slot (start + r) mod cycle length. Returns (partner_pos, slot)."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat = np.concatenate(seqs) if seqs else np.array([], dtype=np.int64)
    slot = (starts[set_ids] + ranks) % lengths[set_ids]
    return flat[offsets[set_ids] + slot], slot
