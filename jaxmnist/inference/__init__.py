"""A trained or imported model after training: `jaxmnist evaluate` and `jaxmnist predict`.

    load.py      the model and its config from a training workdir or an import-torch checkpoint
    forward.py   the model's outputs on a split, preprocessed and keyed as training evaluates
    evaluate.py  `jaxmnist evaluate`: loss, accuracy, per-class accuracy, confusion matrix
    predict.py   `jaxmnist predict`: class probabilities of PNG, .npy or split-slice images
"""
