"""A seconds-long run for engine tests: LeNetBN on the first 400 fixture images, 2 epochs.

Shuffled, augmented (so data order and augmentation keys matter for exactness),
mid-epoch checkpoints every 3 steps, logging every 2.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.dataset = "mnist"
    config.train_split = "train[:400]"
    config.train_pp = "random_rotation(degrees=7, fill=1)|to_tensor|normalize(mean=0.1307, std=0.3081)"
    config.shuffle = True
    config.eval = {"test": {"split": "test", "pp": "to_tensor|normalize(mean=0.1307, std=0.3081)"}}
    config.best_split = "test"
    config.model = "lenet_bn"
    config.model_overrides = {}
    config.loss = "cross_entropy"
    config.optimizer = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}
    config.schedule = {"name": "cosine", "t_max": 5}
    config.batch_size = 48  # 400 = 8 * 48 + 16: every epoch ends with a smaller batch
    config.eval_batch_size = 128
    config.epochs = 2
    config.seed = 3
    config.log_every_steps = 2
    config.checkpoint_every_steps = 3
    config.keep_checkpoints = 2
    return config
