"""What finished and running workdirs show, and the commands that draw and compare them from their files.

    runs.py       reading a workdir: config.json, metrics.jsonl, timing.jsonl, its experiment's reference
    reference.py  the notebook reference format, measuring a run by it, `jaxmnist experiments`
    plots.py      the pictures of a run's files: curves, error rates, learning rates, comparisons (the one
                  matplotlib setup)
    compare.py    `jaxmnist compare`: runs next to the notebooks' numbers
    schedule.py   `jaxmnist schedule`: a schedule's rates as text, JSON or a picture

jaxmnist.train draws a run's curves with plots.py; the pictures that run a trained model are in
jaxmnist/pictures.py, above jaxmnist.train and jaxmnist.inference.
"""
