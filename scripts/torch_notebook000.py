"""Notebook 000's training run in PyTorch itself: its class, train() and test(), today's torch.

    python scripts/torch_notebook000.py BN_Xavier --seed 0 --epochs 3
    python scripts/torch_notebook000.py BN_Xavier --seed 0 --epochs 3 --old-batchnorm-init

Prints the test loss and accuracy after every epoch, as the notebook's test() does. The
recipe is the notebook's: SGD lr 1e-3 momentum 0.5, batch 64 shuffled, test batch 512,
ToTensor and Normalize(0.1307, 0.3081). `--old-batchnorm-init` starts BatchNorm's weight from
U(0, 1), PyTorch's default up to 1.1 (ones since 1.2), which the notebook's run predates.
Needs torch (`pip install .[torch]`); the data are the MNIST IDX files.
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from jaxmnist import torch_reference
from jaxmnist.data import idx

F = torch.nn.functional


def mnist_dataset(split: idx.IdxSplit) -> torch.utils.data.TensorDataset:
    images = (torch.from_numpy(split.images.astype(np.float32) / 255).unsqueeze(1) - 0.1307) / 0.3081
    return torch.utils.data.TensorDataset(images, torch.from_numpy(split.labels.astype(np.int64)))


def add_data_source(parser: argparse.ArgumentParser):
    parser.add_argument("--data-source", default=os.environ.get("JAXMNIST_DATA", "../shared/data"),
                        help="folder holding mnist/ with the IDX files")


def mnist_splits(data_source: str) -> tuple:
    """(train, test) of MNIST as TensorDatasets; one torch thread, as the runs this script reports."""
    torch.set_num_threads(1)
    folder = Path(data_source) / "mnist"
    return tuple(mnist_dataset(idx.read_split(folder, "mnist", split)) for split in ("train", "test"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=["Def_Net", "Best_Net", "Best_Net_BN", "BN_Xavier", "BN_Kamming",
                                          "TmpXavier"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--old-batchnorm-init", action="store_true")
    add_data_source(parser)
    args = parser.parse_args()
    train_set, test_set = mnist_splits(args.data_source)
    torch.manual_seed(args.seed)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=512, shuffle=True)
    model = getattr(torch_reference, args.model)()
    if args.old_batchnorm_init:
        if not hasattr(model, "bn1"):
            parser.error(f"{args.model} has no BatchNorm")
        with torch.no_grad():
            model.bn1.weight.uniform_()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.5)
    for epoch in range(1, args.epochs + 1):
        model.train()
        for data, target in train_loader:
            optimizer.zero_grad()
            F.nll_loss(model(data), target).backward()
            optimizer.step()
        model.eval()
        loss, correct = 0.0, 0
        with torch.no_grad():
            for data, target in test_loader:
                output = model(data)
                loss += F.nll_loss(output, target, reduction="sum").item()
                correct += output.argmax(dim=1).eq(target).sum().item()
        print(json.dumps({"model": args.model, "seed": args.seed, "old_batchnorm_init": args.old_batchnorm_init,
                          "torch": torch.__version__, "epoch": epoch, "test_loss": round(loss / len(test_set), 4),
                          "test_accuracy": 100 * correct / len(test_set)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
