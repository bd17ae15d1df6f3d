"""How big and how long a benchmark run is: the full plan and the quick smoke plan."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """Every knob of one run, so the full and quick runs differ only here."""

    name: str
    sizes: tuple[int, ...] = (5, 10, 30, 60)   # N: clients per session
    sessions: int = 4                          # K: sessions (rooms) per server
    max_writers: int = 10                      # W = min(N, max_writers)
    rate: float = 2.0                          # edits/s per writer (Poisson)
    rounds: int = 2                            # A/B/A/B: each server measured this often per N
    window_s: float = 4.0                      # sending time of one measured window
    drain_s: float = 6.0                       # longest wait for late deliveries after it
    ladder_n: int = 30                         # N at which the edit rate is stepped up
    ladder_rates: tuple[float, ...] = (3.0, 4.0, 6.0)        # stepped up while sustained
    ladder_down_rates: tuple[float, ...] = (1.0, 0.5)        # stepped down if the base rate was missed
    ladder_window_s: float = 3.0
    noisy_repeats: int = 3                     # per server: windows re-measured when other work was busy
    vote_rate: float = 0.5                     # votes/s per ECSA session, alongside the edits
    http_requests: int = 2000                  # per HTTP target
    storage_sizes_kb: tuple[int, ...] = (10, 100, 500, 1000, 2000, 5000)
    storage_repeats: int = 15

    @property
    def growth_sizes(self) -> tuple[int, int] | None:
        """The (small, large) N whose p95 ratio is the growth figure, if both are measured."""
        return (5, 60) if {5, 60} <= set(self.sizes) else None


FULL = Plan(name="full")

QUICK = Plan(
    name="quick", sizes=(5, 30), rounds=1, window_s=3.0, drain_s=4.0,
    ladder_rates=(4.0,), ladder_down_rates=(1.0,), ladder_window_s=2.5, noisy_repeats=1, http_requests=300,
    storage_sizes_kb=(10, 1000, 5000), storage_repeats=5,
)
