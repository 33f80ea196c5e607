"""PyTorch side of scripts/benchmark_epoch.py: one notebook recipe, one epoch per request.

Runs in the torchvision venv (.venv-torchvision: torch 2.14.1, torchvision 0.29.1), never
imports jax or the jaxmnist package; the notebooks' model classes (jaxmnist/torch_reference.py) and
the malloc settings (jaxmnist/runtime.py) are loaded by path. benchmark_epoch.py starts it; by hand:

    .venv-torchvision/bin/python scripts/benchmark_epoch_torch_worker.py
    {"experiment": "net8k/net_bn_dropout_aug", "idx_dir": "/work/shared/data/mnist", "limit_batches": 2}
    epoch

Protocol, one JSON object per line: the first stdin line names the recipe (`experiment`,
the jaxmnist experiment it mirrors), the folder of MNIST's four IDX files (gzipped or
not), an optional `limit_batches` (every loader stops after that many batches) and an
optional `device` ("cpu", the default, or "cuda": where the notebook puts its model and
batches). The worker builds datasets, loaders, model and optimizer as the notebook does
and answers {"ready": true, ...}, or one `error:` line on stderr and exit code 2 when the
device is not there. Each further stdin line "epoch" runs one epoch (training plus the
notebook's evaluation after it; "epoch N": every loader stops after N batches, for a
warm-up) and answers {"seconds": ..., "cpu_share": ..., ...}:
cpu_share is CPU time over wall time, about 1 on a core of its own (taskset -c 1), less
when another process shared it. End of input ends it.
"""

import gzip
import importlib.util
import itertools
import json
import random
import resource
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import PIL
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import torchvision
from torch.utils.data import DataLoader, sampler
from torchvision import datasets, transforms

PACKAGE = Path(__file__).resolve().parent.parent / "jaxmnist"
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# The notebooks ask for pin_memory=True; without an accelerator torch ignores it and warns on every epoch.
warnings.filterwarnings("ignore", message=".*pin_memory.*")


def load_from_package(name: str):
    """A module of jaxmnist/ that imports nothing of jaxmnist's, loaded by path."""
    spec = importlib.util.spec_from_file_location(name, PACKAGE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mnist_root(idx_dir: Path, into: Path) -> Path:
    """A root for torchvision's MNIST: the IDX files, uncompressed, in ROOT/MNIST/raw/ (what download=True leaves)."""
    raw = into / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX_FILES:
        if (idx_dir / name).is_file():
            shutil.copyfile(idx_dir / name, raw / name)
        elif (idx_dir / f"{name}.gz").is_file():
            with gzip.open(idx_dir / f"{name}.gz") as source, open(raw / name, "wb") as target:
                shutil.copyfileobj(source, target)
        else:
            raise SystemExit(f"error: {idx_dir} has neither {name} nor {name}.gz")
    return into


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the DataLoader workers, joined at each loader's end)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def limited(loader, limit_batches):
    return loader if limit_batches is None else itertools.islice(loader, limit_batches)


def notebook_002(root: Path, limit_batches, device: torch.device):
    """Notebook 002, cells 35-42: Net with BatchNorm, Dropout 0.01 and RandomRotation, the run of cell 42."""
    train_transforms = transforms.Compose([
        transforms.RandomRotation((-7.0, 7.0), fill=(1,)),
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,)),
    ])
    test_transforms = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,)),
    ])
    train = datasets.MNIST(root, train=True, download=False, transform=train_transforms)
    test = datasets.MNIST(root, train=False, download=False, transform=test_transforms)
    torch.manual_seed(1)
    # Cell 37 picks these `if device`, and a torch.device is always true: the notebook uses
    # 4 workers and pinned memory on CPU too, for the test loader as well (shuffled).
    dataloader_args = dict(shuffle=True, batch_size=128, num_workers=4, pin_memory=True)
    train_loader = DataLoader(train, **dataloader_args)
    test_loader = DataLoader(test, **dataloader_args)
    model = load_from_package("torch_reference").Net().to(device)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    # The notebook's global lists: train() appends every batch's loss tensor, as it does.
    train_losses, test_losses, train_acc, test_acc = [], [], [], []

    # Cell 41's train() and test() without tqdm's progress bar and the print.
    def train_epoch(limit_batches):
        model.train()
        correct = 0
        processed = 0
        for batch_idx, (data, target) in enumerate(limited(train_loader, limit_batches)):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            y_pred = model(data)
            loss = F.nll_loss(y_pred, target)
            train_losses.append(loss)
            loss.backward()
            optimizer.step()
            pred = y_pred.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
            processed += len(data)
            loss.item()  # the progress bar's description shows it every batch
            train_acc.append(100 * correct / processed)

    def test_epoch(limit_batches):
        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for data, target in limited(test_loader, limit_batches):
                data, target = data.to(device), target.to(device)
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction='sum').item()
                pred = output.argmax(dim=1, keepdim=True)
                correct += pred.eq(target.view_as(pred)).sum().item()
        test_loss /= len(test_loader.dataset)
        test_losses.append(test_loss)
        test_acc.append(100. * correct / len(test_loader.dataset))

    def epoch(limit_batches=limit_batches) -> dict:
        train_epoch(limit_batches)
        test_epoch(limit_batches)
        return {"train_accuracy": train_acc[-1], "test_accuracy": test_acc[-1]}

    description = ("datasets.MNIST + DataLoader(shuffle=True, batch_size=128, num_workers=4, pin_memory=True) for "
                   "train and test; train RandomRotation((-7, 7), fill=(1,)), ToTensor, Normalize((0.1307,), "
                   "(0.3081,)); Net; SGD(lr=0.01, momentum=0.9); F.nll_loss; train() then test() as cell 41 "
                   "(without tqdm)")
    return epoch, description


class ChunkSampler(sampler.Sampler):
    """Notebook 003's sampler: elements in order from an offset."""

    def __init__(self, num_samples, start=0):
        self.num_samples = num_samples
        self.start = start

    def __iter__(self):
        return iter(range(self.start, self.start + self.num_samples))

    def __len__(self):
        return self.num_samples


def notebook_003(root: Path, limit_batches, device: torch.device):
    """Notebook 003, section 'Data Augmentation', third `mnist_aug`: LeNetDeep, 100-epoch run."""
    random.seed(1234)
    np.random.seed(1234)
    torch.manual_seed(1234)
    mnist_aug = transforms.Compose([
        transforms.RandomResizedCrop(28, scale=(0.8, 1.2)),
        transforms.RandomRotation(30),
        transforms.ToTensor(),
    ])
    # generate_data(batch_size=100, transform=mnist_aug)
    batch_size = 100
    train_dataset = datasets.MNIST(root=root, train=True, transform=mnist_aug, download=False)
    test_dataset = datasets.MNIST(root=root, train=False, transform=transforms.ToTensor())
    num_train_samples = int(0.8 * len(train_dataset))
    num_valid_samples = len(train_dataset) - num_train_samples
    train_loader = DataLoader(dataset=train_dataset, sampler=ChunkSampler(num_train_samples, 0),
                              batch_size=batch_size, shuffle=False)
    valid_loader = DataLoader(dataset=train_dataset, sampler=ChunkSampler(num_valid_samples, num_train_samples),
                              batch_size=batch_size, shuffle=False)
    test_loader = DataLoader(dataset=test_dataset, batch_size=batch_size, shuffle=False)
    # train_test_MNIST(LeNetDeep, 100, learning_rate=1e-2, monitor_acc=True, verbose=True)
    model = load_from_package("torch_reference").LeNetDeep()
    model.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-2)

    # One pass of train_test_MNIST's epoch loop, without the verbose plotting.
    def epoch(limit_batches=limit_batches) -> dict:
        train_loss = 0
        train_n_iter = 0
        model.train()
        for images, labels in limited(train_loader, limit_batches):
            images = images.to(device)
            labels = labels.to(device)
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
            train_n_iter += 1
        valid_loss = 0
        valid_n_iter = 0
        model.eval()
        with torch.no_grad():
            for images, labels in limited(valid_loader, limit_batches):
                images = images.to(device)
                labels = labels.to(device)
                outputs = model(images)
                loss = criterion(outputs, labels)
                valid_loss += loss.item()
                valid_n_iter += 1
            correct, total = 0, 0
            for images, labels in limited(test_loader, limit_batches):
                images = images.to(device)
                labels = labels.to(device)
                outputs = model(images)
                _, predicted = torch.max(outputs.data, 1)
                correct += torch.sum(predicted == labels.data)
                total += labels.size(0)
            acc = torch.true_divide(correct, total) * 100
        return {"train_loss": train_loss / train_n_iter, "valid_loss": valid_loss / valid_n_iter,
                "test_accuracy": float(acc)}

    description = ("datasets.MNIST + DataLoader(batch_size=100, shuffle=False) with ChunkSampler: train = first "
                   "48,000, valid = last 12,000 (train transform), test; num_workers 0 (the default, as the "
                   "notebook); train RandomResizedCrop(28, scale=(0.8, 1.2)), RandomRotation(30), ToTensor; "
                   "LeNetDeep; Adam(lr=1e-2); CrossEntropyLoss; train_test_MNIST's epoch with monitor_acc=True, "
                   "without the verbose plots")
    return epoch, description


RECIPES = {"net8k/net_bn_dropout_aug": notebook_002, "lenet/lenet_deep_aug": notebook_003}


def requested_device(name: str) -> torch.device:
    """The notebooks' device: the GPU when asked for and there, else one `error:` line and exit code 2."""
    if name not in ("cpu", "cuda"):
        print(f"error: unknown device {name!r} (have: cpu, cuda)", file=sys.stderr)
        sys.exit(2)
    if name == "cuda" and not torch.cuda.is_available():
        print(f"error: device cuda: torch {torch.__version__} sees no CUDA device", file=sys.stderr)
        sys.exit(2)
    return torch.device(name)


def synchronize(device: torch.device):
    """Wait for the device's queued kernels, so a timer around an epoch holds all of its work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> int:
    # The malloc settings of the JAX side (jaxmnist.runtime), so neither side pays page faults the
    # other does not.
    load_from_package("runtime").keep_freed_host_memory()
    request = json.loads(sys.stdin.readline())
    device = requested_device(request.get("device", "cpu"))
    if request["experiment"] not in RECIPES:
        raise SystemExit(f"error: no PyTorch recipe for '{request['experiment']}' (have: {', '.join(RECIPES)})")
    with tempfile.TemporaryDirectory(prefix="benchmark_epoch_mnist_") as temporary:
        root = mnist_root(Path(request["idx_dir"]), Path(temporary))
        epoch, description = RECIPES[request["experiment"]](root, request.get("limit_batches"), device)
        print(json.dumps({"ready": True, "torch": torch.__version__, "torchvision": torchvision.__version__,
                          "pillow": PIL.__version__, "torch_threads": torch.get_num_threads(),
                          "device": str(device),
                          "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                          "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32,
                                   "cudnn": torch.backends.cudnn.allow_tf32},
                          "description": description}), flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] != "epoch" or len(words) > 2 or (len(words) == 2 and not words[1].isdigit()):
                raise SystemExit(f"error: expected 'epoch' or 'epoch N', got {line.strip()!r}")
            synchronize(device)
            started, cpu_started = time.perf_counter(), cpu_seconds()
            metrics = epoch(int(words[1])) if len(words) == 2 else epoch()
            synchronize(device)
            seconds = time.perf_counter() - started
            print(json.dumps({"seconds": seconds, "cpu_share": (cpu_seconds() - cpu_started) / seconds, **metrics}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
