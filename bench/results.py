"""Where benchmark scripts leave their figures for bench/report.py: when $BENCH_JSON names a
file, record(scenario, data) merges {scenario: data} into it (a JSON object). Without it,
nothing is written: the scripts print their tables either way."""

import json
import os


def record(scenario, data):
    path = os.environ.get("BENCH_JSON")
    if not path:
        return
    try:
        with open(path) as f:
            all_ = json.load(f)
    except (OSError, ValueError):
        all_ = {}
    all_[scenario] = data
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(all_, f, indent=1)
    os.replace(tmp, path)
