"""Integer codes shared by the CPU and CUDA kernels.

Kernels are plain functions of arrays and scalars; which activation, loss or
optimizer they apply is chosen by these small integers, so one compiled
kernel family serves every architecture (no recompilation per network).
"""

# activations g(z)
IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4
ELU = 5
STEP = 6
SOFTMAX = 7

# losses J(a, y)
MSE = 0
MAE = 1
BCE = 2
CE = 3
HINGE = 4
KL = 5

# optimizers: optimizer_update(code, theta, grad, state, hyper, t)
OPT_SGD = 0  # plain, momentum (three forms) and Nesterov SGD
OPT_ADAGRAD = 1
OPT_RMSPROP = 2
OPT_ADAM = 3
OPT_ADAMW = 4
OPT_NEWTON = 5  # not a fused kernel (numbann.optim.Newton); the kernel rejects it

# momentum forms, stored as hyper[H_MOMENTUM_FORM]
MOMENTUM_TORCH = 0  # v = beta v + (1 - dampening) g (v = g at t = 1), theta -= eta v
MOMENTUM_AVERAGE = 1  # v = beta v + (1 - beta) g, theta -= eta v
MOMENTUM_CLASSIC = 2  # v = gamma v + eta g, theta -= v

# optimizer hyperparameters: one float64 vector, the same layout for every
# optimizer; flags are stored as 0.0 / 1.0. hyper[H_LR] is the rate in force,
# which a schedule rewrites between steps.
H_LR = 0  # eta (alpha)
H_MOMENTUM = 1  # beta (gamma): SGD momentum, RMSprop momentum
H_DAMPENING = 2  # SGD dampening (torch form only)
H_NESTEROV = 3  # 1.0: Nesterov momentum
H_MOMENTUM_FORM = 4  # MOMENTUM_TORCH / MOMENTUM_AVERAGE / MOMENTUM_CLASSIC
H_WEIGHT_DECAY = 5  # coupled L2 g += wd theta; AdamW: decoupled lambda
H_L1 = 6  # g += l1 sign(theta)
H_BETA1 = 7  # Adam beta1
H_BETA2 = 8  # Adam beta2
H_ALPHA = 9  # RMSprop smoothing constant (the course's rho)
H_EPS = 10  # eps
H_EPS_INSIDE = 11  # 1.0: eta g / sqrt(G + eps) instead of eta g / (sqrt(G) + eps)
H_LR_DECAY = 12  # Adagrad lr_decay
H_CENTERED = 13  # 1.0: centered RMSprop
H_AMSGRAD = 14  # 1.0: Adam/AdamW with the AMSGrad max of v
N_HYPER = 15

# layer kinds, walked by the plan kernels (kernels/plan.py)
DENSE = 0
CONV2D = 1
MAXPOOL2D = 2
AVGPOOL2D = 3
BATCHNORM = 4
FLATTEN = 5
RNN = 6  # Elman layer on sequences (T, n) per sample (kernels/rnn.py)
LAYERNORM = 7  # over the last axis of each sample (kernels/norm.py)
ATTENTION = 8  # single-head self-attention on (T, d) (kernels/attention.py)
POSENC = 9  # positional encoding added to (T, d) (kernels/attention.py)
SKIP = 10  # z[l] = a[l-1] + a[P_SKIP_FROM]: the end of a residual block
LAST_STEP = 11  # a sequence's last time step, (T, n) -> (n,)

# columns of a network's plan: one int64 row per layer l (row l - 1); shapes
# are per sample, input (C_IN, H_IN, W_IN) and output (C_OUT, H_OUT, W_OUT)
# (a flat layer of n units is (n, 1, 1), a sequence of T steps of n values (T, n, 1))
P_KIND = 0
P_ACT = 1
P_CIN = 2
P_HIN = 3
P_WIN = 4
P_COUT = 5
P_HOUT = 6
P_WOUT = 7
P_KH = 8  # kernel or pooling window (LayerNorm: the size n normalized; SelfAttention: d_k,
P_KW = 9  # and d_v)
P_STRIDE = 10
P_PAD_H = 11  # zero rows above (conv); the rows below follow from H_OUT
P_PAD_W = 12  # zero columns on the left
P_W = 13  # offset of W[l] in theta (BatchNorm: gamma)
P_NW = 14  # entries of W[l]; b[l] (beta) follows it, P_NB entries
P_NB = 15
P_RUN = 16  # offset of BatchNorm's running mean in the buffers (running var follows)
P_ALGO = 17  # conv layers: IM2COL or DIRECT (kernels/conv_direct.py)
P_FLAG = 18  # RNN: 1 if the output is every h_t (else h_T); SelfAttention: 1 if causal;
#              PositionalEncoding: 1 if learned (else sinusoidal); Dense: 1 if applied at
#              every time step of a sequence (C_IN steps)
P_SKIP_FROM = 19  # Skip layers: the layer whose a is added (the residual block's input)
P_SKIP_TO = 20  # the first layer of a residual block: its Skip layer (0: none), whose
#                 delta also flows into dJ/da of this layer's input
N_PLAN = 21

# conv algorithms (P_ALGO)
IM2COL = 0
DIRECT = 1

# plan forward modes
EVAL = 0  # BatchNorm uses its running statistics
TRAIN = 1  # batch statistics, running statistics untouched (backprop, gradcheck)
TRAIN_UPDATE = 2  # batch statistics, running statistics updated (fit)
