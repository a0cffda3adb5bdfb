"""numbann: neural networks trained by Numba kernels, with every number of
backprop recorded, replayed and explained."""
from . import activations, initializers, losses
from .activations import ELU, LeakyReLU
from .gradcheck import gradcheck
from .model import MLP, Dense, Network, Step, load
from .perceptron import Perceptron, perceptron_output
from .training import History, TrainingDiverged

__version__ = "0.1.0"
