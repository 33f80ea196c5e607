"""Parity with the notebooks' PyTorch classes: same weights give the same outputs and the same
BatchNorm running statistics; state_dict conversion both ways; `jaxmnist import-torch`.

The PyTorch classes below are copied from the notebook text dumps in ../shared/seeds with
only the OCR damage repaired (`def init (self)`, `self.fcl`, `kernel size=`, `nn.init.kaiming normal (`).
"""

import argparse

import jax
import numpy as np
import pytest

from jaxmnist import models, torch_port
from jaxmnist.cli import main
from jaxmnist.errors import UserError

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

pytestmark = pytest.mark.torch


# ---- notebook 000 -------------------------------------------------------------------------------

class Def_Net(nn.Module):
    def __init__(self):
        super(Def_Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4*4*50, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(-1, 4*4*50)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


class Sig_Net(nn.Module):
    def __init__(self):
        super(Sig_Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4*4*50, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.sigmoid(self.conv1(x))
        x = F.max_pool2d(x, 2, 2)
        x = F.sigmoid(self.conv2(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(-1, 4*4*50)
        x = F.sigmoid(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


class DrO_Net(nn.Module):
    def __init__(self, prob):
        super(DrO_Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4*4*50, 500)
        self.fc2 = nn.Linear(500, 10)
        self.do1 = nn.Dropout(prob)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(-1, 4*4*50)
        x = self.do1(F.relu(self.fc1(x)))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


class Best_Net(nn.Module):
    def __init__(self, prob=0.5):
        super(Best_Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4*4*50, 500)
        self.fc2 = nn.Linear(500, 10)
        self.do1 = nn.Dropout(prob)
        self.bn1 = torch.nn.BatchNorm2d(20)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.bn1(x)
        x = F.max_pool2d(x, 2, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(-1, 4*4*50)
        x = self.do1(F.relu(self.fc1(x)))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


class Best_Net_BN(nn.Module):
    def __init__(self):
        super(Best_Net_BN, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4*4*50, 500)
        self.fc2 = nn.Linear(500, 10)
        self.bn1 = torch.nn.BatchNorm2d(20)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.bn1(x)
        x = F.max_pool2d(x, 2, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(-1, 4*4*50)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


class BN_Xavier(nn.Module):
    def __init__(self):
        super(BN_Xavier, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4*4*50, 500)
        self.fc2 = nn.Linear(500, 10)
        self.bn1 = torch.nn.BatchNorm2d(20)
        nn.init.xavier_uniform_(self.conv1.weight)
        nn.init.xavier_uniform_(self.conv2.weight)
        nn.init.xavier_uniform_(self.fc1.weight)
        nn.init.xavier_uniform_(self.fc2.weight)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.bn1(x)
        x = F.max_pool2d(x, 2, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(-1, 4*4*50)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


class BN_Kamming(nn.Module):
    def __init__(self):
        super(BN_Kamming, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4*4*50, 500)
        self.fc2 = nn.Linear(500, 10)
        self.bn1 = torch.nn.BatchNorm2d(20)
        nn.init.kaiming_uniform_(self.conv1.weight)
        nn.init.kaiming_uniform_(self.conv2.weight)
        nn.init.kaiming_uniform_(self.fc1.weight)
        nn.init.kaiming_uniform_(self.fc2.weight)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.bn1(x)
        x = F.max_pool2d(x, 2, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(-1, 4*4*50)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


class TmpXavier(nn.Module):
    def __init__(self):
        super(TmpXavier, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4*4*50, 500)
        self.fc2 = nn.Linear(500, 10)
        nn.init.xavier_uniform_(self.conv1.weight)
        nn.init.xavier_uniform_(self.conv2.weight)
        nn.init.xavier_uniform_(self.fc1.weight)
        nn.init.xavier_uniform_(self.fc2.weight)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(-1, 4*4*50)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


# ---- notebook 001 -------------------------------------------------------------------------------

class CNN(nn.Module):
    def __init__(self):
        super(CNN, self).__init__()
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=16,
                               kernel_size=5, stride=1, padding=0)
        self.maxpool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(in_channels=16, out_channels=32,
                               kernel_size=3, stride=1, padding=0)
        self.fc1 = nn.Linear(in_features=800, out_features=128)
        self.fc2 = nn.Linear(in_features=128, out_features=10)
        nn.init.kaiming_normal_(self.conv1.weight, nonlinearity='relu')
        nn.init.kaiming_normal_(self.conv2.weight, nonlinearity='relu')
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity='relu')
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity='linear')

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.maxpool(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = self.maxpool(x)
        x = x.view(-1, 800)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


class CNN2(nn.Module):
    def __init__(self):
        super(CNN2, self).__init__()
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=32,
                               kernel_size=5, stride=1, padding=2)
        self.maxpool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(in_channels=32, out_channels=64,
                               kernel_size=5, stride=1, padding=2)
        self.fc1 = nn.Linear(in_features=3136, out_features=256)
        self.fc2 = nn.Linear(in_features=256, out_features=10)
        nn.init.kaiming_normal_(self.conv1.weight, nonlinearity='relu')
        nn.init.kaiming_normal_(self.conv2.weight, nonlinearity='relu')
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity='relu')
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity='linear')

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.maxpool(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = self.maxpool(x)
        x = x.view(-1, 3136)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


class CNN3(nn.Module):
    def __init__(self):
        super(CNN3, self).__init__()
        self.dropout = nn.Dropout(p=.05)
        self.layer1 = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(16),
            nn.ReLU(),
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(32),
            nn.ReLU(),
        )
        self.layer3 = nn.Sequential(
            nn.Conv2d(32, 64, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2)
        )
        self.layer4 = nn.Sequential(
            nn.Conv2d(64, 128, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=1)
        )
        self.fc1 = nn.Linear(in_features=18432, out_features=10)

    def forward(self, x):
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = x.reshape(x.size(0), -1)
        x = self.dropout(x)
        x = self.fc1(x)
        return F.log_softmax(x, dim=1)


# ---- notebook 002 -------------------------------------------------------------------------------

dropout_value = 0.01


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        # Input Block
        self.convblock1 = nn.Sequential(
            nn.Conv2d(in_channels=1, out_channels=8, kernel_size=(3, 3), padding=0, bias=False),
            nn.ReLU(),
            nn.BatchNorm2d(8),
            nn.Dropout(dropout_value)
        )  # output_size = 26

        # CONVOLUTION BLOCK 1
        self.convblock2 = nn.Sequential(
            nn.Conv2d(in_channels=8, out_channels=16, kernel_size=(3, 3), padding=0, bias=False),
            nn.ReLU(),
            nn.BatchNorm2d(16),
            nn.Dropout(dropout_value)
        )  # output_size = 24

        # TRANSITION BLOCK 1
        self.pool1 = nn.MaxPool2d(2, 2)  # output_size = 12
        self.convblock3 = nn.Sequential(
            nn.Conv2d(in_channels=16, out_channels=8, kernel_size=(1, 1), padding=0, bias=False),
            nn.ReLU()
        )  # output_size = 12

        # CONVOLUTION BLOCK 2
        self.convblock4 = nn.Sequential(
            nn.Conv2d(in_channels=8, out_channels=12, kernel_size=(3, 3), padding=0, bias=False),
            nn.ReLU(),
            nn.BatchNorm2d(12),
            nn.Dropout(dropout_value)
        )  # output_size = 10

        self.convblock5 = nn.Sequential(
            nn.Conv2d(in_channels=12, out_channels=12, kernel_size=(3, 3), padding=0, bias=False),
            nn.ReLU(),
            nn.BatchNorm2d(12),
            nn.Dropout(dropout_value)
        )  # output_size = 8

        self.convblock6 = nn.Sequential(
            nn.Conv2d(in_channels=12, out_channels=16, kernel_size=(3, 3), padding=0, bias=False),
            nn.ReLU(),
            nn.BatchNorm2d(16),
            nn.Dropout(dropout_value)
        )  # output_size = 6

        # OUTPUT BLOCK
        self.convblock7 = nn.Sequential(
            nn.Conv2d(in_channels=16, out_channels=16, kernel_size=(3, 3), padding=1, bias=False),
            nn.ReLU(),
            nn.BatchNorm2d(16),
            nn.Dropout(dropout_value)
        )  # output_size = 6

        self.gap = nn.Sequential(
            nn.AvgPool2d(kernel_size=6)
        )  # output_size = 1

        self.convblock8 = nn.Sequential(
            nn.Conv2d(in_channels=16, out_channels=10, kernel_size=(1, 1), padding=0, bias=False),
        )  # output_size = 1

    def forward(self, x):
        x = self.convblock1(x)
        x = self.convblock2(x)

        x = self.pool1(x)
        x = self.convblock3(x)

        x = self.convblock4(x)
        x = self.convblock5(x)
        x = self.convblock6(x)
        x = self.convblock7(x)

        x = self.gap(x)
        x = self.convblock8(x)
        x = x.view(-1, 10)
        return F.log_softmax(x, dim=-1)


# ---- notebook 003 -------------------------------------------------------------------------------

class LeNet(nn.Module):
    def __init__(self):
        super(LeNet, self).__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2)
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2)
        )
        self.fc = nn.Linear(7*7*32, 10)

    def forward(self, x):
        out = self.block1(x)
        out = self.block2(out)
        out = out.view(out.size(0), -1)
        out = self.fc(out)
        return out


class LeNetBN(nn.Module):
    def __init__(self):
        super(LeNetBN, self).__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2)
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2)
        )
        self.fc = nn.Linear(7*7*32, 10)

    def forward(self, x):
        out = self.block1(x)
        out = self.block2(out)
        out = out.view(out.size(0), -1)
        out = self.fc(out)
        return out


class LeNetDrop(nn.Module):
    def __init__(self):
        super(LeNetDrop, self).__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.fc_drop = nn.Sequential(
            nn.Linear(7*7*32, 10),
            nn.Dropout(0.4)
        )

    def forward(self, x):
        out = self.block1(x)
        out = self.block2(out)
        out = out.view(out.size(0), -1)
        out = self.fc_drop(out)
        return out


class LeNetDropBN(nn.Module):
    def __init__(self):
        super(LeNetDropBN, self).__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.fc_drop = nn.Sequential(
            nn.Linear(7*7*32, 10),
            nn.Dropout(0.4)
        )

    def forward(self, x):
        out = self.block1(x)
        out = self.block2(out)
        out = out.view(out.size(0), -1)
        out = self.fc_drop(out)
        return out


class LeNetDL(nn.Module):
    def __init__(self):
        super(LeNetDL, self).__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(32, 64, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.fc_drop = nn.Sequential(
            nn.Linear(7*7*64, 10),
            nn.Dropout(0.4)
        )

    def forward(self, x):
        out = self.block1(x)
        out = self.block2(out)
        out = out.view(out.size(0), -1)
        out = self.fc_drop(out)
        return out


class LeNetDLK3(nn.Module):
    """The notebook's second `class LeNetDL`, redefined with kernel_size=3 in block2."""

    def __init__(self):
        super(LeNetDLK3, self).__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.fc_drop = nn.Sequential(
            nn.Linear(7*7*64, 10),
            nn.Dropout(0.4)
        )

    def forward(self, x):
        out = self.block1(x)
        out = self.block2(out)
        out = out.view(out.size(0), -1)
        out = self.fc_drop(out)
        return out


class LeNetDeep(nn.Module):
    def __init__(self):
        super(LeNetDeep, self).__init__()
        self.block1 = nn.Sequential(
            nn.BatchNorm2d(1),
            nn.Conv2d(1, 16, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.block3 = nn.Sequential(
            nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.block4 = nn.Sequential(
            nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.Dropout2d(0.125),
            nn.MaxPool2d(2)
        )
        self.fc_drop = nn.Sequential(
            nn.Linear(1*1*128, 10),
            nn.Dropout(0.4)
        )

    def forward(self, x):
        out = self.block1(x)
        out = self.block2(out)
        out = self.block3(out)
        out = self.block4(out)
        out = out.view(out.size(0), -1)
        out = self.fc_drop(out)
        return out


class SimpleNet(nn.Module):
    def __init__(self):
        super(SimpleNet, self).__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),
            nn.ReLU()
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(32, 32, kernel_size=3, padding=1),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.ReLU()
        )
        self.block3 = nn.Sequential(
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU()
        )
        self.block4 = nn.Sequential(
            nn.Conv2d(64, 64, kernel_size=3, padding=1),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.ReLU()
        )
        self.fc = nn.Sequential(
            nn.Linear(7*7*64, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(),
            nn.Linear(512, 10)
        )

    def forward(self, x):
        x = self.block1(x)
        x = self.block2(x)
        x = self.block3(x)
        x = self.block4(x)
        x = x.view(x.size(0), -1)
        x = self.fc(x)
        return x


# ---- notebook 004 -------------------------------------------------------------------------------

class Network_CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, 1)
        self.conv2 = nn.Conv2d(32, 64, 5, 1)
        self.fc1 = nn.Linear(4*4*64, 500)
        self.dropout1 = nn.Dropout(0.4)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(-1, 4*4*64)
        x = F.relu(self.fc1(x))
        x = self.dropout1(x)
        x = F.softmax(self.fc2(x), dim=1)
        return x

    def visualize(self, x):
        a = F.relu(self.conv1(x))
        b = F.max_pool2d(a, 2, 2)
        c = F.relu(self.conv2(b))
        d = F.max_pool2d(c, 2, 2)
        return a, b, c, d


TORCH_MODELS = {
    "def_net": Def_Net,
    "sig_net": Sig_Net,
    "dro_net": lambda: DrO_Net(prob=0.5),
    "best_net": Best_Net,
    "best_net_bn": Best_Net_BN,
    "bn_xavier": BN_Xavier,
    "bn_kaiming": BN_Kamming,
    "tmp_xavier": TmpXavier,
    "cnn": CNN,
    "cnn2": CNN2,
    "cnn3": CNN3,
    "net": Net,
    "lenet": LeNet,
    "lenet_bn": LeNetBN,
    "lenet_drop": LeNetDrop,
    "lenet_drop_bn": LeNetDropBN,
    "lenet_dl": LeNetDL,
    "lenet_dl_k3": LeNetDLK3,
    "lenet_deep": LeNetDeep,
    "simple_net": SimpleNet,
    "network_cnn": Network_CNN,
}
BATCH_NORM_MODELS = [name for name in TORCH_MODELS if models.info(name)["batch_norm"]]


def make_torch_model(name, seed=0):
    """The notebook's class with its own init, and BatchNorm state randomised so it is not the identity."""
    torch.manual_seed(seed)
    model = TORCH_MODELS[name]()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model


def compiled_apply(module):
    """module.apply compiled as one program: much faster than op-by-op dispatch for a single call."""
    return jax.jit(module.apply, static_argnames=("train", "mutable", "method"))


def inputs(batch=4, seed=1):
    """The same batch as torch NCHW and as jaxmnist NHWC."""
    x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    return x, x.numpy().transpose(0, 2, 3, 1)


def test_every_registry_model_has_its_notebook_class_here():
    assert sorted(TORCH_MODELS) == sorted(models.names())
    for name, constructor in TORCH_MODELS.items():
        torch_params = sum(p.numel() for p in constructor().parameters())
        assert torch_params == models.info(name)["params"], name


@pytest.mark.parametrize("name", list(TORCH_MODELS))
def test_eval_outputs_equal_torch(name):
    torch_model = make_torch_model(name).eval()
    x_torch, x = inputs()
    with torch.no_grad():
        expected = torch_model(x_torch).numpy()

    variables = torch_port.from_torch(name, torch_model.state_dict())
    got = compiled_apply(models.create(name))(variables, x, train=False)

    assert got.shape == expected.shape == (4, 10)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", BATCH_NORM_MODELS)
def test_train_mode_outputs_and_running_statistics_equal_torch(name):
    torch_model = make_torch_model(name).train()
    for module in torch_model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.p = 0.0
    x_torch, x = inputs(batch=6)
    variables = torch_port.from_torch(name, torch_model.state_dict())  # before torch updates its statistics
    with torch.no_grad():
        expected = torch_model(x_torch).numpy()

    no_dropout = {attribute: 0.0 for attribute in models.info(name)["dropout_rates"]}
    module = models.create(name, **no_dropout)
    got, updates = compiled_apply(module)(variables, x, train=True, mutable=("batch_stats",),
                                          rngs={"dropout": jax.random.key(0)})

    np.testing.assert_allclose(np.asarray(got), expected, rtol=0, atol=1e-5)
    updated = torch_port.to_torch(name, {"params": variables["params"], **updates})
    for key, tensor in torch_model.state_dict().items():
        if key.endswith(("running_mean", "running_var")):
            np.testing.assert_allclose(updated[key].numpy(), tensor.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


def test_network_cnn_feature_maps_equal_torch():
    torch_model = make_torch_model("network_cnn").eval()
    x_torch, x = inputs(batch=2)
    variables = torch_port.from_torch("network_cnn", torch_model.state_dict())
    got = models.create("network_cnn").apply(variables, x, method="visualize")
    with torch.no_grad():
        expected = torch_model.visualize(x_torch)
    for feature_map, reference in zip(got, expected):
        np.testing.assert_allclose(np.asarray(feature_map), reference.numpy().transpose(0, 2, 3, 1), atol=1e-5)


@pytest.mark.parametrize("name", list(TORCH_MODELS))
def test_round_trip_is_exact_and_loads_into_torch(name):
    state_dict = make_torch_model(name).state_dict()
    back = torch_port.to_torch(name, torch_port.from_torch(name, state_dict))

    compared = {key for key in state_dict if not key.endswith("num_batches_tracked")}
    assert set(back) == compared
    for key in compared:
        assert back[key].dtype == state_dict[key].dtype
        assert torch.equal(back[key], state_dict[key]), key
    TORCH_MODELS[name]().load_state_dict(back)  # strict: every key present with the right shape


def test_numpy_state_dicts_are_accepted():
    state_dict = make_torch_model("lenet_bn").state_dict()
    from_tensors = torch_port.from_torch("lenet_bn", state_dict)
    from_numpy = torch_port.from_torch("lenet_bn", {key: value.numpy() for key, value in state_dict.items()})
    jax.tree_util.tree_map(np.testing.assert_array_equal, from_tensors, from_numpy)


def test_variables_have_flax_layouts_and_collections():
    variables = torch_port.from_torch("best_net", make_torch_model("best_net").state_dict())
    shapes = jax.tree_util.tree_map(np.shape, variables)
    assert shapes["params"]["conv2"]["kernel"] == (5, 5, 20, 50)
    assert shapes["params"]["fc1"]["kernel"] == (800, 500)
    assert shapes["params"]["bn1"] == {"scale": (20,), "bias": (20,)}
    assert shapes["batch_stats"]["bn1"] == {"mean": (20,), "var": (20,)}
    assert torch_port.from_torch("def_net", Def_Net().state_dict())["batch_stats"] == {}


def test_wrong_state_dicts_name_the_key():
    state_dict = make_torch_model("lenet_bn").state_dict()
    missing = dict(state_dict)
    del missing["block2.1.running_var"]
    with pytest.raises(UserError, match=r"block2\.1\.running_var"):
        torch_port.from_torch("lenet_bn", missing)
    with pytest.raises(UserError, match=r"'fc\.weight' has shape \(10, 3136\), 'lenet_bn' needs \(10, 1568\)"):
        torch_port.from_torch("lenet_bn", {**state_dict, "fc.weight": torch.zeros(10, 3136)})
    with pytest.raises(UserError, match=r"does not: extra\.weight"):
        torch_port.from_torch("lenet_bn", {**state_dict, "extra.weight": torch.zeros(1)})
    with pytest.raises(UserError, match=r"no key 'fc\.(bias|weight)'"):  # LeNetDropBN has fc_drop.0.*
        torch_port.from_torch("lenet_bn", LeNetDropBN().state_dict())
    variables = torch_port.from_torch("lenet_bn", state_dict)
    del variables["params"]["fc"]["kernel"]
    with pytest.raises(UserError, match=r"no 'params/fc/kernel' \(state_dict key 'fc\.weight'\)"):
        torch_port.to_torch("lenet_bn", variables)


def test_import_torch_command_writes_a_loadable_checkpoint(tmp_path, capsys):
    torch_model = make_torch_model("net")
    pt_file = tmp_path / "mnist_net.pt"
    torch.save(torch_model.state_dict(), pt_file)
    out = tmp_path / "checkpoint"

    assert main(["import-torch", "net", str(pt_file), "--out", str(out)]) == 0
    assert "7,864 parameters" in capsys.readouterr().out

    restored = torch_port.load_variables(out)
    expected = torch_port.from_torch("net", torch_model.state_dict())
    jax.tree_util.tree_map(np.testing.assert_array_equal, restored, expected)
    x_torch, x = inputs()
    with torch.no_grad():
        reference = torch_model.eval()(x_torch).numpy()
    got = compiled_apply(models.create("net"))(restored, x, train=False)
    np.testing.assert_allclose(np.asarray(got), reference, rtol=0, atol=1e-5)


def test_import_torch_errors_are_one_line(tmp_path, capsys):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert main(["import-torch", "net", str(garbage), "--out", str(tmp_path / "a")]) == 2
    assert "cannot read" in capsys.readouterr().err

    whole_model = tmp_path / "whole.pt"
    torch.save({"epoch": 3, "model_state_dict": Net().state_dict()}, whole_model)
    with pytest.raises(UserError, match="not a state_dict of tensors .*model_state_dict"):
        torch_port.import_command(argparse.Namespace(name="net", file=str(whole_model), out=str(tmp_path / "b")))

    assert main(["import-torch", "net", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "c")]) == 2
    assert "does not exist" in capsys.readouterr().err

    with pytest.raises(UserError, match="unknown model 'lenet5'"):
        torch_port.import_command(argparse.Namespace(name="lenet5", file=str(garbage), out=str(tmp_path / "d")))

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "file").write_text("x")
    pt_file = tmp_path / "net.pt"
    torch.save(Net().state_dict(), pt_file)
    with pytest.raises(UserError, match="not empty"):
        torch_port.import_command(argparse.Namespace(name="net", file=str(pt_file), out=str(occupied)))
