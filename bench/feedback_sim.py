"""Does the feedback loop learn what segments like? 30 simulated nights, loop vs today's uniform plan.

Each segment has a hidden taste: a probability ``mu[s, motif]`` that a box with that motif pleases a
customer (one favourite motif well above the rest). Every night each segment gets orders; the
library's own ``plan_designs`` picks the segment's designs and assigns its orders, either

- ``uniform``: no feedback, today's plan (motifs rotated by segment, orders spread evenly), or
- ``loop``: Thompson sampling from the posteriors that ``arm_posteriors`` builds from all feedback
  that has arrived so far (feedback of night t arrives ``delay`` nights later, as in production).

Half the customers react; a pleased one shares or unboxes with a high rating, a displeased one
complains, returns or rates low; ``event_rewards`` (the policy's weights) scores the events. Regret
of a night = sum over its orders of ``max_k mu[s, k] - mu[s, motif of the order's design]``.

    .venv/bin/python bench/feedback_sim.py            # the documented run: seed 7 plus 20 seeds
    .venv/bin/python bench/feedback_sim.py --nights 30 --seeds 0 --plot docs/feedback_sim.png
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from packaging_pipeline.design.batch import plan_designs  # noqa: E402
from packaging_pipeline.feedback.policy import load_policy  # noqa: E402
from packaging_pipeline.feedback.statistics import arm_posteriors, posteriors_by_segment
from packaging_pipeline.gan.motifs import MOTIFS  # noqa: E402

START = dt.date(2026, 11, 1)
PALETTE = [{"color": "navy", "hex": "#1f2a44"}, {"color": "beige", "hex": "#d9c8a9"}]


def hidden_tastes(segments: int, rng: np.random.Generator) -> np.ndarray:
    """``mu[s, k]``: a favourite motif at 0.75-0.9 per segment, the others at 0.2-0.55."""
    mu = rng.uniform(0.2, 0.55, (segments, len(MOTIFS)))
    favourite = rng.integers(len(MOTIFS), size=segments)
    mu[np.arange(segments), favourite] = rng.uniform(0.75, 0.9, segments)
    return mu


def _night_orders(night: int, segments: int, orders: int) -> tuple[pd.DataFrame, pd.Series]:
    ids = [f"S{night:03d}-{i:05d}" for i in range(orders * segments)]
    per_order = pd.DataFrame({
        "order_id": ids, "status": "fitted", "box_code": "0427-M2", "style": "0427", "inner_length_mm": 200.0,
        "inner_width_mm": 150.0, "inner_height_mm": 40.0, "board_grade": "E",
    })  # fmt: skip
    return per_order, pd.Series([i % segments for i in range(len(ids))], index=ids)


def _feedback(
    motif_idx: np.ndarray, segment: np.ndarray, mu: np.ndarray, day: dt.date, rng: np.random.Generator,
    respond: float,
) -> pd.DataFrame:  # fmt: skip
    """One event per reacting order: pleased (prob mu) -> shared/unboxed rated 4-5, else complaint/returned/1-2."""
    reacts = rng.random(len(motif_idx)) < respond
    pleased = rng.random(len(motif_idx)) < mu[segment, motif_idx]
    happy_event = np.where(rng.random(len(motif_idx)) < 0.3, "shared", "unboxed")
    sad_event = np.array(["complaint", "returned", "unboxed"])[rng.integers(3, size=len(motif_idx))]
    rating = np.where(pleased, rng.integers(4, 6, len(motif_idx)), rng.integers(1, 3, len(motif_idx))).astype(float)
    rated = rng.random(len(motif_idx)) < 0.6
    frame = pd.DataFrame({
        "segment_id": segment, "motif": np.asarray(MOTIFS)[motif_idx], "event": np.where(pleased, happy_event,
        sad_event), "rating": np.where(rated, rating, np.nan),
        "event_time": pd.Timestamp(day.isoformat(), tz="UTC") + pd.Timedelta(hours=12),
    })  # fmt: skip
    return frame[reacts]


def simulate(
    mode: str, nights: int = 30, segments: int = 3, designs: int = 4, orders: int = 150, seed: int = 7,
    delay: int = 1, respond: float = 0.5,
) -> dict[str, Any]:  # fmt: skip
    """Per-night reward and regret (in ``mu`` units, summed over orders) of one mode."""
    if mode not in ("loop", "uniform"):
        raise ValueError(f"mode must be 'loop' or 'uniform', got {mode!r}")
    policy = load_policy()
    mu = hidden_tastes(segments, np.random.default_rng([seed, 1]))
    rng = np.random.default_rng([seed, 2])  # the customers' reactions
    profiles = [{"segment_id": s, "label": f"s{s}", "palette": PALETTE, "top_categories": []} for s in range(segments)]
    motif_index = {m: k for k, m in enumerate(MOTIFS)}
    arrived: list[tuple[int, pd.DataFrame]] = []  # (night the feedback arrives, events)
    reward, regret, favourite_share = [], [], []
    for night in range(nights):
        day = START + dt.timedelta(days=night)
        posteriors = None
        if mode == "loop":
            known = [f for at, f in arrived if at <= night]
            if known:
                events = pd.concat(known, ignore_index=True)
                posteriors = posteriors_by_segment(arm_posteriors(events, "motif", day.isoformat(), policy))
        per_order, segment_of = _night_orders(night, segments, orders)
        plans, fitted = plan_designs(profiles, per_order, segment_of, designs, messages={"default": "thanks"},
                                     ds=day.isoformat(), posteriors=posteriors, policy=policy)  # fmt: skip
        motif_of = {p.design_id: motif_index[p.motif] for p in plans}
        k = fitted["design_id"].map(motif_of).to_numpy(dtype=np.int64)
        s = fitted["segment_id"].to_numpy(dtype=np.int64)
        got = mu[s, k]
        reward.append(float(got.sum()))
        regret.append(float((mu.max(axis=1)[s] - got).sum()))
        favourite_share.append(float((k == mu.argmax(axis=1)[s]).mean()))
        arrived.append((night + delay, _feedback(k, s, mu, day + dt.timedelta(days=delay), rng, respond)))
    return {
        "mode": mode,
        "reward": reward,
        "regret": regret,
        "cum_regret": np.cumsum(regret).round(3).tolist(),
        "cum_reward": np.cumsum(reward).round(3).tolist(),
        "favourite_share": favourite_share,
        "orders_per_night": segments * orders,
    }


def compare(nights: int = 30, seed: int = 7, **kwargs: Any) -> dict[str, Any]:
    """Loop and uniform on the same hidden tastes and customers."""
    return {mode: simulate(mode, nights=nights, seed=seed, **kwargs) for mode in ("uniform", "loop")}


def plot(result: dict[str, Any], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    nights = np.arange(1, len(result["loop"]["regret"]) + 1)
    for mode, colour in (("uniform", "#999999"), ("loop", "#1f77b4")):
        r = result[mode]
        ax1.plot(nights, r["cum_regret"], label=mode, color=colour, linewidth=2)
        ax2.plot(nights, np.asarray(r["reward"]) / r["orders_per_night"], label=mode, color=colour, linewidth=2)
    ax1.set(xlabel="night", ylabel="cumulative regret (pleased customers lost)", title="Cumulative regret")
    ax2.set(xlabel="night", ylabel="expected share of pleased customers", title="Reward per order, per night")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    from bench.common import machine_base, write_result

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nights", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7, help="the plotted and documented run")
    ap.add_argument("--seeds", type=int, default=20, help="more seeds for the spread of the figures")
    ap.add_argument("--delay", type=int, default=1, help="nights until a night's feedback arrives")
    ap.add_argument("--plot", default=str(Path(__file__).resolve().parent.parent / "docs" / "feedback_sim.png"))
    args = ap.parse_args()
    t = time.perf_counter()
    main_run = compare(args.nights, args.seed, delay=args.delay)
    seconds = time.perf_counter() - t
    plot(main_run, args.plot, f"Feedback loop vs uniform plan: {args.nights} nights, seed {args.seed}, "
         f"feedback delay {args.delay} night(s)")  # fmt: skip
    spread = []
    for seed in range(args.seeds):
        r = compare(args.nights, seed, delay=args.delay)
        spread.append({m: r[m]["cum_regret"][-1] for m in ("uniform", "loop")})
    ratio = [s["loop"] / s["uniform"] if s["uniform"] else float("nan") for s in spread]
    summary = {
        "nights": args.nights, "seed": args.seed, "delay": args.delay, "seconds_main_run": round(seconds, 2),
        "orders_per_night": main_run["loop"]["orders_per_night"],
        "cum_regret_night30": {m: main_run[m]["cum_regret"][-1] for m in ("uniform", "loop")},
        "cum_reward_night30": {m: main_run[m]["cum_reward"][-1] for m in ("uniform", "loop")},
        "regret_last_night": {m: round(main_run[m]["regret"][-1], 2) for m in ("uniform", "loop")},
        "favourite_share_last_night": {m: round(main_run[m]["favourite_share"][-1], 3) for m in ("uniform", "loop")},
        "seeds": args.seeds, "loop_over_uniform_regret_ratio": {
            "median": round(float(np.median(ratio)), 3), "max": round(float(np.max(ratio)), 3),
            "min": round(float(np.min(ratio)), 3)} if ratio else None,
        "loop_worse_than_uniform_seeds": sum(s["loop"] >= s["uniform"] for s in spread),
    }  # fmt: skip
    path = write_result({"summary": summary, "run": main_run, "per_seed": spread, "machine": machine_base()},
                        "feedback_sim")  # fmt: skip
    print(summary)
    print(f"plot: {args.plot}\nresult: {path}")


if __name__ == "__main__":
    main()
