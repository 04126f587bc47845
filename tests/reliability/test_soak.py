"""A reduced soak (benchmarks/soak.py runs the full one): a server process under 20 clients x 10
questions, its open file descriptors sampled from /proc. Zero errors, and the descriptors stay
bounded: no more than one per client above the idle level under load, back to idle afterwards.
Speed and memory are the benchmark's business (no timing assertions here).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.reliability_soak import SoakConfig, SoakResult, run_soak_async

pytestmark = [pytest.mark.slow,  # a server process and its clients
              pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")]


def assert_bounded(result: SoakResult, clients: int) -> None:
    assert not result.errors, result.table()
    assert result.answered == result.config.clients * result.config.questions, result.table()
    idle = result.level("idle").fds
    _lo, hi = result.load_fds
    assert result.warm.fds <= idle + clients + 2, result.table()  # one socket per client
    assert hi <= idle + 2 * clients + 2, result.table()  # at most an old one closing per client
    assert result.level("gone").fds <= idle, result.table()  # every socket was closed


@pytest.mark.parametrize("reconnect_every", [0, 3], ids=["one connection each", "churn"])
async def test_a_small_soak_has_no_errors_and_bounded_descriptors(reconnect_every: int) -> None:
    cfg = SoakConfig(clients=20, questions=10, warmup=2, legacy_share=0.25,
                     reconnect_every=reconnect_every, sample_every=0.1, question_timeout=30.0)
    result = await run_soak_async(cfg)
    assert_bounded(result, cfg.clients)
    if not reconnect_every:  # steady connections: the count does not move under load
        assert result.load_fds == (result.warm.fds, result.warm.fds), result.table()


def test_the_soak_counts_wrong_answers_as_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server giving the wrong answers must fail the soak (so the zero above means something)."""
    import support.reliability_soak as soak

    monkeypatch.setattr(soak, "expected", lambda cfg, client, n, turn: "not what it says")
    result = soak.run_soak(SoakConfig(clients=3, questions=3, warmup=1, sample_every=0.1,
                                      question_timeout=30.0))
    assert len(result.errors) == 9 and result.answered == 0
    assert not result.ok and "FAIL  zero errors" in result.table()
