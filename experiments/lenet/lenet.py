"""Notebook 003, "LeNet": LeNet, Adam lr 1e-2, batch 100, 10 epochs, no augmentation.

    jaxmnist train lenet/lenet --workdir workdirs/lenet

Data as the notebook's `generate_data(batch_size=100)`: the first 48,000 training
images (file order, never shuffled: its ChunkSampler) train, the last 12,000
validate, the 10,000 test images give the accuracy; ToTensor only, no
normalisation. nn.CrossEntropyLoss on the logits.

Reference (notebook text after the run; the curves themselves are not in the dump):
"The accuracy is about 98%." Final accuracy, qualitative.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.dataset = "mnist"
    config.train_split = "train[:48000]"
    config.train_pp = "to_tensor"
    config.shuffle = False
    config.eval = {
        "valid": {"split": "train[48000:]", "pp": "to_tensor"},
        "test": {"split": "test", "pp": "to_tensor"},
    }
    config.model = "lenet"
    config.model_overrides = {}
    config.loss = "cross_entropy"
    config.optimizer = {"name": "adam", "learning_rate": 1e-2}
    config.schedule = {"name": "constant"}
    config.batch_size = 100
    config.eval_batch_size = 100
    config.epochs = 10
    config.seed = 1234
    config.reference = {"source": "003_655cf397bd523b23.txt, text after the LeNet run",
                        "metric": "test accuracy, final", "value": None, "text": "The accuracy is about 98%."}
    return config
