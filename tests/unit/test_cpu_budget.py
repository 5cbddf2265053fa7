"""The server-CPU budget controller, driven by a simulated server and a fake clock."""

from __future__ import annotations

import pytest

from janitor.domain.cpu_budget import (
    CpuBudgetController,
    ServerSample,
    server_cpu_seconds,
    server_sample,
)


class SimulatedServer:
    """A Redis main thread: ``cost_per_key`` per probed key, plus other clients' calls.

    The other clients use ``background_share`` of the thread in calls of ``CALL_COST``. While a
    batch runs they either keep going (``steady``), wait and lose that time (``wait``, closed
    loop clients), or pile up and are served right after the batch (``pile_up``).
    """

    CALL_COST = 10e-6

    def __init__(self, cost_per_key: float, background_share: float, others: str) -> None:
        self.now = 0.0
        self.cpu = 0.0
        self.calls = 0.0
        self.backlog_calls = 0.0
        self.cost_per_key = cost_per_key
        self.share = background_share
        self.others = others
        self.scan_cpu = 0.0

    def sample(self) -> ServerSample:
        return ServerSample(self.cpu, int(self.calls))

    def _serve(self, calls: float) -> None:
        self.calls += calls
        self.cpu += calls * self.CALL_COST

    def wait(self, seconds: float) -> None:
        """Idle for the scan: the other clients run, first catching up on their backlog."""
        catch_up = min(self.backlog_calls, seconds * (1 - self.share) / self.CALL_COST)
        self.backlog_calls -= catch_up
        self._serve(catch_up + seconds * self.share / self.CALL_COST)
        self.now += seconds

    def probe(self, keys: int) -> None:
        """One batch."""
        work = keys * self.cost_per_key
        self.scan_cpu += work
        self.cpu += work
        if self.others == "steady":
            wall = work / (1 - self.share)
            self._serve(wall * self.share / self.CALL_COST)
        else:
            wall = work
            if self.others == "pile_up":
                self.backlog_calls += wall * self.share / self.CALL_COST
        self.now += wall


def run_scan(
    server: SimulatedServer,
    controller: CpuBudgetController,
    keys: int,
    client_seconds_per_key: float = 0.0,
) -> list[int]:
    """Scan ``keys`` keys under ``controller``; return the batch sizes it chose."""
    counts = []
    started = server.now
    left = keys
    while left > 0:
        server.wait(controller.delay(server.now))
        controller.batch_started(server.now, server.sample())
        batch = min(left, controller.count)
        counts.append(batch)
        server.probe(batch)
        controller.batch_finished(server.now, server.sample(), batch)
        server.wait(batch * client_seconds_per_key)
        left -= batch
    assert server.now > started
    return counts


@pytest.mark.parametrize("budget", [0.05, 0.2, 0.5])
@pytest.mark.parametrize(
    ("background", "others"), [(0.0, "steady"), (0.4, "steady"), (0.4, "wait"), (0.3, "pile_up")]
)
def test_scan_share_converges_to_the_budget(budget: float, background: float, others: str) -> None:
    server = SimulatedServer(2e-6, background, others)
    controller = CpuBudgetController(budget, max_count=1000)
    run_scan(server, controller, keys=200_000)
    share = server.scan_cpu / server.now
    assert share == pytest.approx(budget, rel=0.1)
    assert controller.scan_cpu_seconds == pytest.approx(server.scan_cpu, rel=0.05)


def test_batch_size_shrinks_with_the_budget_within_bounds() -> None:
    sizes = {}
    for budget in (0.01, 0.05, 0.5):
        server = SimulatedServer(4e-6, 0.0, "steady")
        controller = CpuBudgetController(budget, max_count=1000, min_count=10)
        sizes[budget] = run_scan(server, controller, keys=50_000)[-5]
    # budget * 20 ms of CPU per batch at 4 µs a key: 50 keys at 1 %, 250 at 5 %, capped at 1000.
    assert sizes[0.01] == pytest.approx(50, rel=0.05)
    assert sizes[0.05] == pytest.approx(250, rel=0.05)
    assert sizes[0.5] == 1000


def test_first_batch_is_small_until_the_cost_is_known() -> None:
    controller = CpuBudgetController(0.1, max_count=5000)
    assert controller.count == 100
    assert controller.delay(0.0) == 0.0


def test_a_client_slower_than_the_budget_is_never_paused_and_banks_no_credit() -> None:
    server = SimulatedServer(1e-6, 0.0, "steady")
    controller = CpuBudgetController(0.5, max_count=1000)
    # The client needs 10 µs a key: the scan's share is about 9 %, far under 50 %.
    run_scan(server, controller, keys=20_000, client_seconds_per_key=10e-6)
    assert controller.delay(server.now) == 0.0
    server.wait(60)  # a long stall must not allow a burst afterwards
    controller.batch_started(server.now, server.sample())
    server.probe(1000)
    controller.batch_finished(server.now, server.sample(), 1000)
    assert controller.delay(server.now) == pytest.approx(1000 * 1e-6 / 0.5 - 1000 * 1e-6)


def test_budget_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="fraction"):
        CpuBudgetController(0.0, max_count=10)
    with pytest.raises(ValueError, match="fraction"):
        CpuBudgetController(1.5, max_count=10)


def test_batch_finished_needs_a_started_batch() -> None:
    with pytest.raises(RuntimeError):
        CpuBudgetController(0.1, max_count=10).batch_finished(1.0, ServerSample(1.0, 0), 10)


def test_server_cpu_prefers_the_main_thread_fields() -> None:
    info = {
        "used_cpu_sys": 10.0,
        "used_cpu_user": 20.0,
        "used_cpu_sys_main_thread": 1.5,
        "used_cpu_user_main_thread": 2.25,
    }
    assert server_cpu_seconds(info) == 3.75
    assert server_cpu_seconds({"used_cpu_sys": 1.0, "used_cpu_user": "2.5"}) == 3.5


def test_sample_counts_only_other_clients_calls() -> None:
    info = {
        "used_cpu_sys_main_thread": 1.0,
        "used_cpu_user_main_thread": 1.0,
        "cmdstat_get": {"calls": 10, "usec": 5},
        "cmdstat_set": {"calls": 5, "usec": 5},
        "cmdstat_memory|usage": {"calls": 1000, "usec": 900},
        "cmdstat_info": {"calls": 3, "usec": 90},
        "cmdstat_pttl": {"calls": 1000, "usec": 300},
    }
    assert server_sample(info) == ServerSample(2.0, 15)
