"""Ring buffer policies: blocking never loses, drop-oldest counts every drop, stop aborts."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from rt_saliency.stream.ring import EndOfStream, RingBuffer, RingStopped, payload_bytes


def test_blocking_ring_passes_every_item_in_order_and_blocks_when_full() -> None:
    ring = RingBuffer(3, "block")
    received: list[int] = []

    def consumer() -> None:
        while True:
            item = ring.get(timeout=5)
            if isinstance(item, EndOfStream):
                return
            time.sleep(0.001)  # slower than the producer
            received.append(item)

    thread = threading.Thread(target=consumer)
    thread.start()
    for i in range(200):
        assert ring.put(i) == []
        assert len(ring) <= 3
    ring.put(EndOfStream())
    thread.join(10)
    assert received == list(range(200))
    assert ring.drops == 0 and ring.max_depth == 3


def test_drop_oldest_ring_counts_and_returns_every_drop() -> None:
    ring = RingBuffer(4, "drop_oldest")
    dropped: list[int] = []
    for i in range(10):
        dropped += ring.put(i)
    assert dropped == [0, 1, 2, 3, 4, 5]
    assert ring.drops == 6
    dropped += ring.put(EndOfStream())  # the sentinel is never lost: it drops data instead
    assert dropped[-1] == 6 and ring.drops == 7
    rest = [ring.get(timeout=1) for _ in range(4)]
    assert rest[:3] == [7, 8, 9] and isinstance(rest[3], EndOfStream)


def test_fast_producer_slow_consumer_accounts_for_every_item() -> None:
    ring = RingBuffer(2, "drop_oldest")
    got: list[int] = []

    def consumer() -> None:
        while True:
            item = ring.get(timeout=5)
            if isinstance(item, EndOfStream):
                return
            got.append(item)
            time.sleep(0.002)

    thread = threading.Thread(target=consumer)
    thread.start()
    dropped: list[int] = []
    for i in range(300):
        dropped += ring.put(i)
    dropped += ring.put(EndOfStream())
    thread.join(10)
    assert ring.drops == len(dropped) > 0
    assert sorted(got + dropped) == list(range(300))
    assert got == sorted(got)


def test_stop_wakes_a_blocked_producer_and_consumer() -> None:
    full = RingBuffer(1, "block")
    full.put("x")
    empty = RingBuffer(1, "block")
    errors: list[BaseException] = []

    def call(fn, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            fn(*args)
        except RingStopped as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(full.put, "y")),
               threading.Thread(target=call, args=(empty.get,))]
    for t in threads:
        t.start()
    time.sleep(0.1)
    assert all(t.is_alive() for t in threads)
    full.stop()
    empty.stop()
    for t in threads:
        t.join(2)
    assert not any(t.is_alive() for t in threads) and len(errors) == 2


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        RingBuffer(0)
    with pytest.raises(ValueError):
        RingBuffer(2, "newest")  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        RingBuffer(2).get(timeout=0.05)


@dataclass
class _Carrier:
    a: np.ndarray
    planes: tuple
    label: str = "x"


def test_payload_bytes_counts_the_arrays_an_item_carries() -> None:
    item = _Carrier(np.zeros((10, 10), np.uint8), (np.zeros(5, np.float32), None))
    assert payload_bytes(item) == 100 + 20
    assert payload_bytes(EndOfStream()) == 0 and payload_bytes(None) == 0


def test_a_byte_bound_blocks_by_size_and_passes_one_big_item_alone() -> None:
    ring = RingBuffer(8, max_bytes=1000)
    ring.put(np.zeros(600, np.uint8))
    blocked = threading.Thread(target=ring.put, args=(np.zeros(600, np.uint8),), daemon=True)
    blocked.start()
    time.sleep(0.2)
    assert blocked.is_alive() and len(ring) == 1  # 1200 bytes would not fit
    ring.get()
    blocked.join(2)
    assert not blocked.is_alive() and len(ring) == 1
    ring.get()
    ring.put(np.zeros(5000, np.uint8))  # larger than the bound: passes alone
    assert len(ring) == 1 and ring.max_bytes_held == 5000
    ring.put(EndOfStream())  # the sentinel carries nothing: it always fits beside it
    assert len(ring) == 2


def test_a_byte_bound_with_drop_oldest_drops_until_it_fits() -> None:
    ring = RingBuffer(8, policy="drop_oldest", max_bytes=1000)
    assert ring.put(np.full(400, 0, np.uint8)) == []
    assert ring.put(np.full(400, 1, np.uint8)) == []
    dropped = ring.put(np.full(400, 2, np.uint8))
    assert [int(d[0]) for d in dropped] == [0] and ring.drops == 1
    assert [int(ring.get()[0]) for _ in range(2)] == [1, 2]
