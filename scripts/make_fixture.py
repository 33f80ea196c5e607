"""Write the small IDX test fixture under tests/fixtures/ from the full original files.

Usage: python scripts/make_fixture.py ../shared/data

Takes the first 1,500 train and first 500 test images of each dataset (file
order), so tests run without the network and without ../shared.
"""

import sys
from pathlib import Path

from jaxmnist.data import idx

TRAIN_COUNT, TEST_COUNT = 1500, 500
FIXTURE_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def main(source: str) -> None:
    for dataset in ("mnist", "fashion_mnist"):
        for split, count in (("train", TRAIN_COUNT), ("test", TEST_COUNT)):
            full = idx.read_split(Path(source) / dataset, dataset, split)
            idx.write_split(FIXTURE_DIR / dataset, full.images[:count], full.labels[:count], split)
        print(f"wrote {FIXTURE_DIR / dataset}")


if __name__ == "__main__":
    main(sys.argv[1])
