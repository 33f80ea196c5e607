"""What finished and running workdirs show, read from their files only (no model, no training code).

    runs.py       reading a workdir: config.json, metrics.jsonl, timing.jsonl, its experiment's reference
    reference.py  the notebook reference format, measuring a run by it, `jaxmnist experiments`
    compare.py    `jaxmnist compare`: runs next to the notebooks' numbers
    plots.py      the pictures: curves, error rates, learning rates, comparisons (the one matplotlib setup)
"""
