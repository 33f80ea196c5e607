"""Notebook 000's DrO_Net(prob=1) over many initialisations: how far its test accuracy strays from 11.35%.

    python scripts/torch_dropout_one.py --check          # one seed, one epoch: replay == real training
    python scripts/torch_dropout_one.py --seeds 200      # the accuracies' spread over 200 initialisations

With p = 1, dropout zeroes fc1's output in every training step, so fc2's bias is the only
parameter with a gradient, and that gradient, softmax(bias) - the batch's label frequencies,
depends on the labels alone. The test pass (eval mode: no dropout) adds the learned bias to
the logits the random initial network gives each test image. So every seed's per-epoch test
accuracies follow from its test logits at initialisation and a replay of the bias's SGD steps
(lr 1e-3, momentum 0.5, batch 64 shuffled), without training the network. `--check` trains
one seed the notebook's way and compares its bias and test accuracy with the replay's.
Needs torch (`pip install .[torch]`); the data are the MNIST IDX files.
"""

import argparse
import json

import numpy as np
import torch

from jaxmnist import torch_reference
from torch_notebook000 import add_data_source, mnist_splits

F = torch.nn.functional
LEARNING_RATE, MOMENTUM, BATCH_SIZE = 1e-3, 0.5, 64


def initial_test_logits(model, test_set) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return torch.cat([model.fc2(F.relu(model.fc1(torch.flatten(
            F.max_pool2d(F.relu(model.conv2(F.max_pool2d(F.relu(model.conv1(images)), 2, 2))), 2, 2), 1))))
            for images in test_set.tensors[0].split(1000)]).double().numpy()


def replay_bias(bias: np.ndarray, label_batches) -> np.ndarray:
    """torch.optim.SGD's steps (dampening 0) on fc2.bias for nll_loss of log_softmax(bias)."""
    bias, velocity = bias.copy(), None
    for labels in label_batches:
        probabilities = np.exp(bias - bias.max())
        probabilities /= probabilities.sum()
        gradient = probabilities - np.bincount(labels, minlength=10) / len(labels)
        velocity = gradient if velocity is None else MOMENTUM * velocity + gradient
        bias -= LEARNING_RATE * velocity
    return bias


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return round(100 * float((logits.argmax(1) == labels).mean()), 2)


def check(train_set, test_set, seed: int) -> dict:
    """Train one epoch the notebook's way, recording the batches' labels, and replay them."""
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True)
    model = torch_reference.DrO_Net(prob=1)
    logits = initial_test_logits(model, test_set)
    initial_bias = model.fc2.bias.detach().double().numpy()
    initial = {name: value.clone() for name, value in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    label_batches = []
    model.train()
    for data, target in loader:
        label_batches.append(target.numpy())
        optimizer.zero_grad()
        F.nll_loss(model(data), target).backward()
        optimizer.step()
    changed = [name for name, value in model.state_dict().items() if not torch.equal(value, initial[name])]
    trained = initial_test_logits(model, test_set)
    bias = replay_bias(initial_bias, label_batches)
    labels = test_set.tensors[1].numpy()
    return {"seed": seed, "parameters_changed_by_training": changed,
            "bias_max_difference": float(np.abs(bias - model.fc2.bias.detach().double().numpy()).max()),
            "trained_test_accuracy": accuracy(trained, labels),
            "replayed_test_accuracy": accuracy(logits - initial_bias + bias, labels)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=200, help="initialisations: torch seeds 0 .. N-1")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--check", action="store_true", help="train seed 0 for one epoch and compare")
    add_data_source(parser)
    args = parser.parse_args()
    train_set, test_set = mnist_splits(args.data_source)
    if args.check:
        print(json.dumps(check(train_set, test_set, seed=0)))
        return 0
    train_labels, test_labels = train_set.tensors[1].numpy(), test_set.tensors[1].numpy()
    per_seed = []
    for seed in range(args.seeds):
        torch.manual_seed(seed)
        model = torch_reference.DrO_Net(prob=1)
        logits = initial_test_logits(model, test_set)
        bias = initial_bias = model.fc2.bias.detach().double().numpy()
        order = np.random.default_rng(seed)
        accuracies = []
        for _ in range(args.epochs):
            shuffled = train_labels[order.permutation(len(train_labels))]
            bias = replay_bias(bias, np.split(shuffled, range(BATCH_SIZE, len(shuffled), BATCH_SIZE)))
            accuracies.append(accuracy(logits - initial_bias + bias, test_labels))
        per_seed.append(accuracies)
        print(json.dumps({"seed": seed, "test_accuracy_per_epoch": accuracies}), flush=True)
    table = np.array(per_seed)
    for epoch in sorted({1, min(16, args.epochs), args.epochs}):
        column = table[:, epoch - 1]
        print(json.dumps({"epoch": epoch, "seeds": len(column), "min": float(column.min()), "max": float(column.max()),
                          "percentiles_5_50_95": np.percentile(column, [5, 50, 95]).round(2).tolist(),
                          "at_least_14.37": int((column >= 14.37).sum())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
