"""Ring buffer policies: blocking never loses, drop-oldest counts every drop, stop aborts."""

from __future__ import annotations

import threading
import time

import pytest

from rt_saliency.stream.ring import EndOfStream, RingBuffer, RingStopped


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
