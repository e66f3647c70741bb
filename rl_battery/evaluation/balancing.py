"""Evaluate passive balancing: a policy next to rule-based balancing (threshold tuned per
profile) and no balancing, on the same held-out cells of each load profile.

Ratios are the policy's mean over the rule-based mean, per profile, for the three quantities
the passive-balancing RL study reports (Results in Engineering, 2024): usable capacity (its
+16.8 % is a ratio of 1.168), mean SOC variance (-69.4 %: 0.306) and switch count
(-40.4 %: 0.596).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rl_battery.baselines.balancing import NoBalancing, RuleBasedBalancing, evaluate_policy, tune_rule_based
from rl_battery.envs.metrics import BALANCING_METRIC_KEYS, SOC_VARIANCE_PHASES

#: The two profiles of the study: training default and test.
EVAL_PROFILES = ("discharge-rest-charge", "charge-rest-discharge")
#: Held-out cells: pack seeds from here on (training draws its cells from the env's RNG).
EVAL_PACK_SEED0 = 10_000
#: Cells the rule-based threshold is tuned on (disjoint from the evaluation cells).
TUNE_PACK_SEEDS = tuple(range(20_000, 20_005))
#: Quantity -> name of its ratio to rule-based balancing.
RATIOS = {"usable_capacity_Ah": "capacity_ratio", "soc_variance_mean": "variance_ratio", "switch_count": "switch_ratio"}
LABELS = {"policy": "RL policy", "rule_based": "rule-based", "no_balancing": "no balancing"}
#: env_config keys that shape what a policy sees and does, not the cells or the load: each
#: checkpoint keeps its own, so policies trained with different observations share baselines.
POLICY_VIEW_KEYS = ("action_format", "history", "observe_time", "soc_deviation_gain")
#: env_config keys that only shape training: the start SOCs of the training cells and the reward
#: weights. Evaluation leaves them out, so every policy meets the same held-out cells and the
#: same rule-based baseline (its threshold is tuned for the default reward); the benchmark's
#: metrics (capacity, SOC variance, switches) do not depend on the reward.
TRAINING_ONLY_KEYS = ("initial_soc_offset", "initial_soc_spread", "w_spread", "w_switch", "w_energy", "w_usable",
                      "w_blocked")


def evaluation_env_config(env_config: Mapping[str, Any], *, keep_policy_view: bool = True) -> dict[str, Any]:
    """A checkpoint's env_config as evaluation uses it: without ``profile`` and ``pack_seed``
    (set per episode) and :data:`TRAINING_ONLY_KEYS`; without :data:`POLICY_VIEW_KEYS` too
    unless ``keep_policy_view``."""
    drop = {"profile", "pack_seed", *TRAINING_ONLY_KEYS, *(() if keep_policy_view else POLICY_VIEW_KEYS)}
    return {k: v for k, v in env_config.items() if k not in drop}


def _summary(rows: list[dict[str, float]]) -> dict[str, Any]:
    return {"mean": {k: float(np.mean([r[k] for r in rows])) for k in BALANCING_METRIC_KEYS},
            "std": {k: float(np.std([r[k] for r in rows])) for k in BALANCING_METRIC_KEYS},
            "episodes": len(rows)}


def _trace_rows(policy: str, profile: str, info: dict) -> dict:
    row = {"policy": policy, "profile": profile, "time_s": info["time_s"], "pack_current_A": info["pack_current_A"],
           "soc_spread": float(np.ptp(info["cell_soc"]))}
    for i, (soc, v, on) in enumerate(zip(info["cell_soc"], info["cell_voltage_V"], info["switches"])):
        row.update({f"soc_{i}": float(soc), f"voltage_V_{i}": float(v), f"switch_{i}": int(on)})
    return row


def compare_balancing(env_config: Mapping[str, Any], make_policy: Callable | None, *,
                      profiles: Sequence[str] = EVAL_PROFILES, episodes: int = 5,
                      tune_pack_seeds: Sequence[int] = TUNE_PACK_SEEDS, trace: list | None = None,
                      baselines: dict[str, dict] | None = None) -> dict[str, dict]:
    """The policy (if given), tuned rule-based balancing and no balancing on each profile.

    Args:
        env_config: the env_config of the env (``profile`` and ``pack_seed`` are set here).
        make_policy: env -> ``(obs, info) -> action``, or None for the baselines only.
        profiles: load profiles to evaluate on.
        episodes: held-out cells per profile (pack seeds 10000, 10001, ...), >= 1.
        tune_pack_seeds: cells the rule-based threshold is tuned on, per profile.
        trace: when given, receives one row per step of the first episode of each policy
            and profile (SOC, voltage and switch state per cell, pack current).
        baselines: the output of an earlier call with the same ``env_config``, profiles and
            ``episodes``: its tuned threshold and baseline results are reused (a benchmark
            evaluates many checkpoints against the same baselines).

    Returns:
        ``{profile: {"rule_threshold", "tuning", "results": {name: {"mean", "std",
        "episodes"}}, "ratios": {name: {capacity_ratio, variance_ratio, switch_ratio}}}}``.

    Raises:
        ValueError: ``episodes`` < 1 or an unknown profile.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    seeds = [EVAL_PACK_SEED0 + k for k in range(episodes)]
    out = {}
    for profile in profiles:
        if baselines is not None:
            threshold, tuning = baselines[profile]["rule_threshold"], baselines[profile]["tuning"]
            makers = {}
            results = {name: baselines[profile]["results"][name] for name in ("rule_based", "no_balancing")}
        else:
            threshold, tuning = tune_rule_based(env_config, profile, tune_pack_seeds)
            makers = {"rule_based": lambda env, th=threshold: RuleBasedBalancing(env, th), "no_balancing": NoBalancing}
            results = {}
        if make_policy is not None:
            makers = {"policy": make_policy, **makers}
        for name, make in makers.items():
            hook = None
            if trace is not None:
                def hook(seed, info, name=name, profile=profile):
                    if seed == seeds[0]:
                        trace.append(_trace_rows(name, profile, info))
            results[name] = _summary(evaluate_policy(env_config, make, seeds, profile, on_step=hook))
        results = {name: results[name] for name in ("policy", "rule_based", "no_balancing") if name in results}
        rule = results["rule_based"]["mean"]
        ratios = {name: {ratio: r["mean"][key] / rule[key] if rule[key] else float("nan") for key, ratio in RATIOS.items()}
                  for name, r in results.items()}
        out[profile] = {"rule_threshold": threshold, "tuning": tuning, "results": results, "ratios": ratios}
    return out


def format_balancing(comparison: dict[str, dict]) -> str:
    """Text table: per profile and policy, usable capacity, mean SOC variance, switches, final
    spread and shunt energy (means), and the three ratios to rule-based balancing."""
    head = (f"{'profile':<23}{'controller':<14}{'usable Ah':>10}{'var(SOC)':>10}{'switches':>9}{'spread':>8}"
            f"{'shunt Wh':>9}{'cap/rule':>9}{'var/rule':>9}{'sw/rule':>8}")
    lines = [head]
    for profile, entry in comparison.items():
        for name, r in entry["results"].items():
            m, q = r["mean"], entry["ratios"][name]
            label = LABELS[name] + (f" {entry['rule_threshold']:.4f}" if name == "rule_based" else "")
            lines.append(f"{profile:<23}{label:<14}{m['usable_capacity_Ah']:>10.3f}{m['soc_variance_mean']:>10.2e}"
                         f"{m['switch_count']:>9.1f}{m['soc_spread_final']:>8.3f}{m['shunt_energy_Wh']:>9.2f}"
                         f"{q['capacity_ratio']:>9.3f}{q['variance_ratio']:>9.3f}{q['switch_ratio']:>8.3f}")
    return "\n".join(lines)


def evaluate_balancing_checkpoint(checkpoint: str | Path, *, out_dir: str | Path | None = None, episodes: int = 5,
                                  profiles: Sequence[str] = EVAL_PROFILES, policy=None) -> dict:
    """Deterministic episodes of a balancing checkpoint's policy on each profile, next to the
    baselines (:func:`compare_balancing`).

    Args:
        checkpoint: an RLlib Algorithm checkpoint of a ``PassiveBalancing`` run.
        out_dir: output folder (default ``<checkpoint>/evaluation``).
        episodes: held-out cells per profile.
        profiles: load profiles (default both of the study).
        policy: an already loaded :class:`~rl_battery.evaluation.checkpoint_policy.CheckpointPolicy`.

    Writes ``metrics.json``, ``trace.csv`` (per step: SOC and voltage per cell, switch
    states, pack current) and ``balancing.png`` atomically; returns the metrics dict.
    """
    from rl_battery.evaluation.checkpoint_policy import load_checkpoint_policy
    from rl_battery.evaluation.plots import plot_balancing
    from rl_battery.evaluation.report import write_evaluation

    policy = policy or load_checkpoint_policy(checkpoint)
    env_config = evaluation_env_config(policy.env_config)
    trace: list[dict] = []
    comparison = compare_balancing(env_config, lambda env: (lambda obs, info: policy.act(obs)), profiles=profiles,
                                   episodes=episodes, trace=trace)
    result = {"checkpoint": str(Path(checkpoint).resolve()), "algorithm": policy.algorithm,
              "env": policy.env_class.__name__, "env_config": {k: str(v) for k, v in policy.env_config.items()},
              "episodes_per_profile": episodes, "comparison": comparison}
    out = Path(out_dir) if out_dir else Path(checkpoint) / "evaluation"
    result["files"] = write_evaluation(
        out, result, trace, lambda frame, path: plot_balancing(frame, path, labels=LABELS,
                                                               title=f"{policy.algorithm}: first held-out cells"),
        "balancing.png")
    return result


#: The study's best results against rule-based balancing (TRPO), as ratios.
PUBLISHED_RATIOS = {"capacity_ratio": 1.168, "variance_ratio": 0.306, "switch_ratio": 0.596}


def _beats(ratios: dict[str, float], bar: dict[str, float]) -> bool:
    """Capacity ratio at least the bar's, variance and switch ratios at most the bar's."""
    return (ratios["capacity_ratio"] >= bar["capacity_ratio"] and ratios["variance_ratio"] <= bar["variance_ratio"]
            and ratios["switch_ratio"] <= bar["switch_ratio"])


def benchmark_balancing(runs: Mapping[str, Sequence[str | Path]], *, episodes: int = 10,
                        profiles: Sequence[str] = EVAL_PROFILES, env_config: Mapping[str, Any] | None = None) -> dict:
    """Every checkpoint of ``runs`` (algorithm name -> one checkpoint per seed) on the same
    held-out cells of each profile, against baselines computed once.

    Per algorithm and profile: the mean and std over seeds of each metric's per-seed mean,
    of the three ratios to rule-based balancing, and whether the mean ratios beat rule-based
    (capacity > 1, variance and switches < 1) and the published ratios
    (:data:`PUBLISHED_RATIOS`).

    Returns:
        ``{"baselines": compare_balancing output, "algorithms": {name: {profile: {...}}},
        "checkpoints": {name: [paths]}, "episodes", "profiles"}``.
    """
    from rl_battery.evaluation.checkpoint_policy import load_checkpoint_policy

    policies = {name: [load_checkpoint_policy(c) for c in checkpoints] for name, checkpoints in runs.items()}
    if env_config is None:
        first = next(p for ps in policies.values() for p in ps)
        env_config = evaluation_env_config(first.env_config, keep_policy_view=False)
    baselines = compare_balancing(env_config, None, profiles=profiles, episodes=episodes)
    algorithms: dict[str, dict] = {}
    for name, seeds in policies.items():
        per_profile: dict[str, dict] = {p: {"seeds": []} for p in profiles}
        for policy in seeds:
            config = {**env_config, **{k: policy.env_config[k] for k in POLICY_VIEW_KEYS if k in policy.env_config}}
            comparison = compare_balancing(config, lambda env, act=policy.act: (lambda obs, info: act(obs)),
                                           profiles=profiles, episodes=episodes, baselines=baselines)
            for profile in profiles:
                per_profile[profile]["seeds"].append({**comparison[profile]["results"]["policy"]["mean"],
                                                     **comparison[profile]["ratios"]["policy"]})
        for profile, entry in per_profile.items():
            rows = entry["seeds"]
            keys = list(BALANCING_METRIC_KEYS) + list(RATIOS.values())
            entry["mean"] = {k: float(np.mean([r[k] for r in rows])) for k in keys}
            entry["std"] = {k: float(np.std([r[k] for r in rows])) for k in keys}
            entry["beats_rule_based"] = _beats(entry["mean"], {"capacity_ratio": 1.0 + 1e-9, "variance_ratio": 1.0 - 1e-9,
                                                               "switch_ratio": 1.0 - 1e-9})
            entry["meets_published"] = _beats(entry["mean"], PUBLISHED_RATIOS)
        algorithms[name] = per_profile
    return {"baselines": baselines, "algorithms": algorithms, "episodes": episodes, "profiles": list(profiles),
            "checkpoints": {name: [str(Path(c).resolve()) for c in cs] for name, cs in runs.items()},
            "published_ratios": PUBLISHED_RATIOS}


def format_benchmark(result: dict) -> str:
    """Markdown: per profile one row per algorithm (mean +- std over seeds) and baseline, and
    the ratios to rule-based balancing."""
    lines = []
    for profile in result["profiles"]:
        base = result["baselines"][profile]
        lines += [f"### {profile} ({result['episodes']} held-out packs; rule-based threshold "
                  f"{base['rule_threshold']:.4f} SOC)", "",
                  "| controller | seeds | usable capacity [Ah] | mean var(SOC) | switches | final spread | shunt energy [Wh] "
                  "| capacity / rule | var / rule | switches / rule | beats rule-based |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, per_profile in result["algorithms"].items():
            m, s = per_profile[profile]["mean"], per_profile[profile]["std"]
            lines.append(
                f"| {name} | {len(per_profile[profile]['seeds'])} | {m['usable_capacity_Ah']:.3f} ± {s['usable_capacity_Ah']:.3f} "
                f"| {m['soc_variance_mean']:.2e} ± {s['soc_variance_mean']:.1e} | {m['switch_count']:.1f} ± {s['switch_count']:.1f} "
                f"| {m['soc_spread_final']:.3f} | {m['shunt_energy_Wh']:.2f} | {m['capacity_ratio']:.3f} ± {s['capacity_ratio']:.3f} "
                f"| {m['variance_ratio']:.3f} ± {s['variance_ratio']:.3f} | {m['switch_ratio']:.3f} ± {s['switch_ratio']:.3f} "
                f"| {'yes' if per_profile[profile]['beats_rule_based'] else 'no'} |")
        for name in ("rule_based", "no_balancing"):
            m, q = base["results"][name]["mean"], base["ratios"][name]
            lines.append(f"| {LABELS[name]} | - | {m['usable_capacity_Ah']:.3f} | {m['soc_variance_mean']:.2e} "
                         f"| {m['switch_count']:.1f} | {m['soc_spread_final']:.3f} | {m['shunt_energy_Wh']:.2f} "
                         f"| {q['capacity_ratio']:.3f} | {q['variance_ratio']:.3f} | {q['switch_ratio']:.3f} | - |")
        means = {**{name: p[profile]["mean"] for name, p in result["algorithms"].items()},
                 **{LABELS[name]: base["results"][name]["mean"] for name in ("rule_based", "no_balancing")}}
        phases = SOC_VARIANCE_PHASES
        split = "; ".join(f"{name} " + " / ".join(f"{m[f'soc_variance_{phase}'] * 1e4:.3f}" for phase in phases)
                          for name, m in means.items())
        lines += ["", f"var(SOC) x 1e4 by phase ({' / '.join(phases)} steps; they add up to the mean): {split}", ""]
    pub = result["published_ratios"]
    lines.append(f"Published (TRPO vs rule-based): capacity {pub['capacity_ratio']:.3f}, variance "
                 f"{pub['variance_ratio']:.3f}, switches {pub['switch_ratio']:.3f}.")
    return "\n".join(lines)
