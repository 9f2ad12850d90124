"""The analysis of benchmark results, in one namespace (``from hpbench.results import analysis as an``).

The analysis is split by what each part does; this module only gathers their public names:

* ``curves``: budget truncation, the value compared, incumbent trajectories, regret, median
  curves with their intervals, rank curves.
* ``statistics``: order-statistic intervals, the paired signed-rank test, Holm, A12,
  Friedman with ties and Nemenyi, power and seeds needed.
* ``scores``: the normalised score with the pooled random-search baseline.
* ``comparisons``: each run's final result, the final table, pairwise tests, Friedman ranks.
* ``verdict``: the verdict's rules and :func:`analyse` (``hb.analyse``), with ``evidence``
  putting it into words.
* ``describe``: workers, budget allocation and configurations, for figures.

All are pure functions over the tidy frames of ``hpbench.results.store``. One rule runs
through them: a run without a result (no successful top-fidelity trial within its budget)
counts as worse than every run with one, everywhere.
"""

from __future__ import annotations

from hpbench.results.comparisons import (
    PAIRED_TEST,
    final_runs,
    final_table,
    friedman_ranks,
    pairwise_tests,
    seeds_needed_table,
)
from hpbench.results.curves import (
    AXES,
    VALUE_SOURCES,
    add_regret,
    aggregate,
    average_rank,
    compared_values,
    compute_seconds,
    incumbent_eligible,
    regret_references,
    run_budgets,
    task_mean_of_medians,
    trajectories,
    value_sources,
    within_budget,
)
from hpbench.results.describe import (
    budget_allocation,
    busy_intervals,
    configurations,
    param_columns,
    param_scales,
    parse_json_column,
    task_spaces,
    worker_utilisation,
)
from hpbench.results.scores import RandomPool, add_scores, random_pools
from hpbench.results.statistics import (
    FriedmanResult,
    a12,
    friedman,
    holm,
    interval_label,
    median_interval,
    median_interval_ranks,
    nemenyi_q,
    paired_differences,
    seeds_needed,
    signed_rank_power,
    signed_rank_test,
    t_interval,
)
from hpbench.results.verdict import Analysis, Verdict, analyse, decide

__all__ = [
    "AXES",
    "VALUE_SOURCES",
    "PAIRED_TEST",
    "Analysis",
    "Verdict",
    "FriedmanResult",
    "RandomPool",
    "analyse",
    "decide",
    "within_budget",
    "run_budgets",
    "compute_seconds",
    "value_sources",
    "compared_values",
    "incumbent_eligible",
    "trajectories",
    "regret_references",
    "add_regret",
    "aggregate",
    "average_rank",
    "task_mean_of_medians",
    "random_pools",
    "add_scores",
    "final_runs",
    "final_table",
    "pairwise_tests",
    "friedman_ranks",
    "seeds_needed_table",
    "median_interval_ranks",
    "median_interval",
    "interval_label",
    "t_interval",
    "paired_differences",
    "signed_rank_test",
    "holm",
    "a12",
    "friedman",
    "nemenyi_q",
    "signed_rank_power",
    "seeds_needed",
    "worker_utilisation",
    "busy_intervals",
    "budget_allocation",
    "param_columns",
    "param_scales",
    "task_spaces",
    "configurations",
    "parse_json_column",
]
