"""numbann: neural networks trained by Numba kernels, with every number of
backprop recorded, replayed and explained."""
from . import activations, data, functional, initializers, losses, optim, schedules, trace
from .activations import ELU, LeakyReLU
from .checkpoint import Resumed, resume
from .device import cuda_available
from .gradcheck import gradcheck
from .interrupt import TrainingInterrupted
from .io import NumbannFileError
from .layers import AvgPool2D, BatchNorm, Conv2D, Flatten, MaxPool2D
from .gan import GAN
from .residual import Residual
from .sequence_layers import RNN, LastStep, LayerNorm, PositionalEncoding, SelfAttention
from .base import Step
from .model import MLP, Dense, Network, load
from .optim import SGD, Adagrad, Adam, AdamW, Momentum, Newton, RMSprop
from .perceptron import Perceptron, perceptron_output
from .sequential import Sequential
from .history import History, LossExplosionWarning, TrainingDiverged

__version__ = "0.1.0"
