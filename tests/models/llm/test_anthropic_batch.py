"""models/llm/_anthropic_batch.py: a job cut into Message Batches by both API caps (requests
and bytes), against a fake Batches server that enforces the caps; batches reserved as a whole;
an earlier run's batches collected, never submitted again (127.0.0.1 only)."""

from __future__ import annotations

import json

import pytest

from analysis.errors import AnalysisError
from models.llm._anthropic_batch import (
    BATCH_MAX_BYTES,
    BATCH_MAX_REQUESTS,
    BATCH_REQUEST_TOO_LARGE,
    ENVELOPE_BYTES,
    request_bytes,
    split_batches,
)
from models.llm.anthropic import AnthropicBackend
from models.llm.protocol import BatchGate, LLMRequest
from tests.models.llm._http_backend_contract import KEY, clear_env, request
from tests.models.llm.fake_servers import FakeAnthropicServer, default_answer

_no_real_credentials = clear_env("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")


def _backend(server, **kw) -> AnthropicBackend:
    return AnthropicBackend(api_key=KEY, base_url=server.url, batch=True, poll_interval_s=0.01,
                            backoff_base_s=0.001, backoff_max_s=0.002, **kw)


def _created(server) -> list[list[str]]:
    """The custom ids of every batch the server created, in creation order."""
    batches = sorted(server.batches.values(), key=lambda b: b["created"])
    return [[r["custom_id"] for r in b["requests"]] for b in batches]


# -- the split -------------------------------------------------------------------------


def test_split_by_count_and_by_bytes_hand_computed():
    e = ENVELOPE_BYTES
    assert split_batches([], max_requests=2, max_bytes=100) == []
    # count only: 5 items, 2 a batch
    assert split_batches([1] * 5, max_requests=2, max_bytes=10**9) == [
        range(2), range(2, 4), range(4, 5)]  # fmt: skip
    # bytes only: 10 + 10 fit in e + 25, a third does not; 30 alone is over: a batch of its own
    assert split_batches([10, 10, 10, 30, 5], max_requests=99, max_bytes=e + 25) == [
        range(2), range(2, 3), range(3, 4), range(4, 5)]  # fmt: skip
    # both: the count binds first, then the bytes
    assert split_batches([4, 4, 4, 4, 9], max_requests=3, max_bytes=e + 12) == [
        range(3), range(3, 4), range(4, 5)]  # fmt: skip


def test_request_bytes_bounds_what_any_encoding_sends():
    item = {"custom_id": "r0-u", "params": {"messages": [{"role": "user",
                                                          "content": "Amélie 🎬 \"x\""}]}}
    compact = len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())
    assert request_bytes(item) == len(json.dumps(item)) + 2 >= compact + 2
    assert (BATCH_MAX_REQUESTS, BATCH_MAX_BYTES) == (100_000, 256_000_000)


@pytest.mark.parametrize("setting", [{"batch_max_requests": 0}, {"batch_max_bytes": 0},
                                     {"batch_max_requests": 100_001},
                                     {"batch_max_bytes": 256_000_001}])
def test_caps_beyond_the_api_are_refused(setting):
    with pytest.raises(AnalysisError, match="batch"):
        AnthropicBackend(api_key=KEY, base_url="http://127.0.0.1:9", batch=True, **setting)


# -- against a server that enforces the caps ---------------------------------------------


def test_a_job_is_cut_into_batches_within_both_caps():
    reqs = [request(n) for n in range(7)]
    reqs[4] = LLMRequest(system=reqs[4].system, user=reqs[4].user + " long" * 60, max_tokens=64,
                         key="u4")
    sizes = [request_bytes({"custom_id": f"r{i}-u{i}", "params": {
        "model": "claude-sonnet-4-5", "max_tokens": 64, "system": r.system,
        "messages": [{"role": "user", "content": r.user}]}}) for i, r in enumerate(reqs)]
    cap_bytes = ENVELOPE_BYTES + sizes[0] + sizes[1] + 10  # two short requests, or the long one
    room = cap_bytes - ENVELOPE_BYTES  # the long one fits alone, with no neighbour
    assert sizes[4] <= room < min(sizes[3], sizes[5]) + sizes[4]
    with FakeAnthropicServer(api_key=KEY, max_batch_requests=3,
                             max_batch_bytes=cap_bytes) as server:
        out = _backend(server, batch_max_requests=3, batch_max_bytes=cap_bytes).complete(reqs)
        refused = server.creates - len(server.batches)
    assert refused == 0
    assert _created(server) == [["r0-u0", "r1-u1"], ["r2-u2", "r3-u3"], ["r4-u4"],
                                ["r5-u5", "r6-u6"]]
    assert [c.text for c in out] == [default_answer(r.system, r.user) for r in reqs]
    assert all(c.ok and c.batch for c in out)


def test_the_fake_refuses_an_oversized_batch_as_the_api_does():
    with FakeAnthropicServer(api_key=KEY, max_batch_requests=2) as server:
        out = _backend(server, batch_max_requests=3).complete([request(n) for n in range(3)])
    assert server.batches == {} and server.creates == 1
    assert all(c.error.startswith("Could not create the message batch: HTTP 400") for c in out)
    with FakeAnthropicServer(api_key=KEY, max_batch_bytes=200) as server:
        out = _backend(server).complete([request(0)])
    assert out[0].error.startswith("Could not create the message batch: HTTP 413")


def test_a_request_over_the_byte_cap_alone_is_not_sent():
    reqs = [request(0), LLMRequest(system="s", user="w " * 400, key="big"), request(2)]
    with FakeAnthropicServer(api_key=KEY) as server:
        out = _backend(server, batch_max_bytes=600).complete(reqs)
    assert _created(server) == [["r0-u0"], ["r2-u2"]]
    assert out[0].ok and out[2].ok
    size = request_bytes({"custom_id": "r1-big", "params": {
        "model": "claude-sonnet-4-5", "max_tokens": 512, "system": "s",
        "messages": [{"role": "user", "content": "w " * 400}]}})
    assert out[1].error == BATCH_REQUEST_TOO_LARGE.format(size=size, cap=600)


# -- the gate: a batch reserved whole, journalled, collected by the next run ---------------


class _Journal:
    """A BatchGate in memory: admits ``room`` requests, records batches."""

    def __init__(self, room: int = 10**9, resumed=()) -> None:
        self.room, self.resumed = room, list(resumed)
        self.reserved: list[list[int]] = []
        self.submitted: list[tuple[str, dict[str, int]]] = []
        self.ended: list[str] = []
        self.stopping = False

    def reserve(self, index):
        return None

    def release(self, index):
        pass

    def failed(self, index, *, status, reason, unusable):
        pass

    def reserve_batch(self, indices):
        n = min(len(indices), self.room)
        self.room -= n
        self.reserved.append(list(indices[:n]))
        return list(indices[:n]), (None if n == len(indices) else "cap reached")

    def submitted_batches(self):
        return self.resumed

    def batch_submitted(self, batch_id, ids):
        self.submitted.append((batch_id, dict(ids)))

    def batch_ended(self, batch_id):
        self.ended.append(batch_id)


def test_each_batch_is_reserved_whole_before_it_is_created_and_the_cap_cuts_it():
    journal = _Journal(room=5)
    assert isinstance(journal, BatchGate)
    with FakeAnthropicServer(api_key=KEY) as server:
        out = _backend(server, batch_max_requests=2).complete(
            [request(n) for n in range(7)], gate=journal)
    assert journal.reserved == [[0, 1], [2, 3], [4], []]  # the third batch is cut at the cap
    assert _created(server) == [["r0-u0", "r1-u1"], ["r2-u2", "r3-u3"], ["r4-u4"]]
    assert [c.ok for c in out] == [True] * 5 + [False] * 2
    assert out[5].error == "cap reached" and out[5].meta["not_sent"]
    assert [ids for _, ids in journal.submitted] == [{"r0-u0": 0, "r1-u1": 1},
                                                     {"r2-u2": 2, "r3-u3": 3}, {"r4-u4": 4}]
    assert journal.ended == [b for b, _ in journal.submitted]  # all polled together, in order


def test_an_earlier_runs_batch_is_collected_not_submitted_again():
    reqs = [request(n) for n in range(4)]
    with FakeAnthropicServer(api_key=KEY) as server:
        first = _Journal()
        # the first run creates its batches, then is "killed" before polling
        backend = _backend(server, batch_max_requests=2)
        for chunk in ([0, 1], [2, 3]):
            backend._submit(chunk, [{"custom_id": f"old-{i}", "params": backend._params(reqs[i])}
                                    for i in chunk], first, lambda i, c: None)
        assert server.creates == 2 and server.result_reads == {}
        # the next run is given the same requests in another order
        order = [3, 1, 0, 2]
        pos = {i: p for p, i in enumerate(order)}
        resumed = [(b, {c: pos[i] for c, i in ids.items()}) for b, ids in first.submitted]
        second = _Journal(resumed=resumed)
        out = _backend(server).complete([reqs[i] for i in order], gate=second)
        reads = dict(server.result_reads)
    assert server.creates == 2 and second.submitted == [] and second.reserved == []
    assert reads == {b: 1 for b, _ in first.submitted}
    assert [c.text for c in out] == [default_answer(reqs[i].system, reqs[i].user) for i in order]
    assert sorted(second.ended) == sorted(b for b, _ in first.submitted)
