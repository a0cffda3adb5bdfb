"""Regression tests for issue 10's "nothing silently wrong" observations: every
bad argument is refused before any work, with a message naming it, and
``score`` never answers a wrong question."""
import numpy as np
import pytest

import numbann as nb
from numbann import optim
from numbann.data import make_moons, make_regression
from numbann.trace import Recorder

NAN, INF = float("nan"), float("inf")


def regression(m=200):
    X, Y = make_regression(m, n_features=3, n_outputs=2, seed=0)
    return nb.MLP([3, 8, 2], hidden="tanh", seed=0), X, Y


def classifier(k=10, m=50):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(m, 4)), np.arange(m) % k
    return nb.MLP([4, 8, k], output="softmax", seed=0), X, y


def binary():
    X, Y = make_moons(60, seed=0)
    return nb.MLP([2, 8, 1], hidden="tanh", output="sigmoid", seed=0), X, Y


def cnn():
    X = np.random.default_rng(0).normal(size=(12, 1, 6, 6))
    net = nb.Sequential((1, 6, 6), [nb.Conv2D(2, 3), nb.Flatten(), nb.Dense(3, "softmax")])
    return net, X, np.arange(12) % 3


# ---------------------------------------------------------------- score checks Y

def test_score_refuses_a_transposed_target():
    net, X, Y = regression()
    assert net.score(X, Y) < 1
    with pytest.raises(ValueError, match=r"Y has shape \(2, 200\) but the network has 2"):
        net.score(X, Y.T)


@pytest.mark.parametrize("make", [classifier, binary, cnn])
def test_score_refuses_string_labels(make):
    net, X, y = make()
    with pytest.raises(TypeError, match=r"Y must hold real numbers.*np.unique\(y, return_inverse"):
        net.score(X, np.array([f"class {int(v)}" for v in np.ravel(y)]))


@pytest.mark.parametrize("make", [regression, classifier, binary, cnn])
def test_score_refuses_nan_targets(make):
    net, X, Y = make()
    Y = np.array(Y, dtype=float)
    Y.flat[3] = NAN
    with pytest.raises(ValueError, match="Y contains NaN or inf"):
        net.score(X, Y)


def test_score_refuses_labels_that_are_not_classes():
    net, X, y = classifier()
    with pytest.raises(ValueError, match="Y: class labels must be whole numbers"):
        net.score(X, y + 0.5)
    with pytest.raises(ValueError, match=r"class labels must be in 0\.\.9.*np.unique"):
        net.score(X, y + 10)
    net, X, Y = binary()
    with pytest.raises(ValueError, match="Y must hold 0/1 labels"):
        net.score(X, Y + 0.5)


def test_score_refuses_one_hot_of_the_wrong_width():
    net, X, y = classifier()
    assert net.score(X, np.eye(10)[y]) == net.score(X, y)
    with pytest.raises(ValueError, match=r"Y has shape \(50, 11\) but the network has 10"):
        net.score(X, np.eye(11)[y])
    with pytest.raises(ValueError, match="no single largest entry"):
        net.score(X, np.zeros((50, 10)))


def test_score_and_evaluate_refuse_an_empty_target():
    net, X, Y = regression()
    with pytest.raises(ValueError, match="Y is empty"):
        net.score(X, Y[:0])
    with pytest.raises(ValueError, match="Y is empty"):
        net.evaluate(X, Y[:0])
    net, X, Y = binary()
    with pytest.raises(ValueError, match="Y is empty"):
        net.evaluate(X, np.zeros((0, 1)), "bce")


def test_score_of_a_hinge_network_is_its_sign_accuracy():
    X, Y = make_moons(200, noise=0.2, seed=0)
    Y = 2 * Y - 1                                          # -1 / +1
    net = nb.MLP([2, 16, 1], hidden="tanh", seed=0)
    h = net.fit(X, Y, loss="hinge", optimizer=nb.Adam(lr=0.01), epochs=30, verbose=0,
                validation_data=(X, Y))
    a = net.forward(X)
    sign_accuracy = np.mean(np.where(a > 0, 1, -1) == Y)
    assert net.score(X, Y) == net.score(X, Y, metric="sign_accuracy") == sign_accuracy
    assert net.score(X, Y, metric="accuracy") == sign_accuracy > 0.8
    assert h.val_metric[-1] == sign_accuracy
    r2 = 1 - np.sum((Y - a) ** 2) / np.sum((Y - Y.mean()) ** 2)
    assert net.score(X, Y, metric="r2") == pytest.approx(r2) != sign_accuracy
    with pytest.raises(ValueError, match="-1/\\+1 labels"):
        net.score(X, (Y + 1) / 2, metric="sign_accuracy")


def test_multilabel_sigmoid_scores_exact_match_or_argmax_by_choice():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    net = nb.MLP([3, 6, 3], output="sigmoid", seed=0)
    Y = (net.forward(X) > 0.5).astype(int)
    Y[:10, 0] = 1 - Y[:10, 0]                              # 10 rows with one label wrong
    assert net.score(X, Y) == net.score(X, Y, metric="multilabel_exact") == 0.75
    assert net.score(X, Y, metric="accuracy") == 0.75
    labels = rng.integers(0, 3, 40)
    assert net.score(X, labels, metric="argmax") == np.mean(net.forward(X).argmax(1) == labels)
    assert net.score(X, np.eye(3)[labels], metric="argmax") == net.score(X, labels, metric="argmax")
    with pytest.raises(ValueError, match=r"Y has shape \(40,\) but the network has 3"):
        net.score(X, labels, metric="multilabel_exact")
    with pytest.raises(ValueError, match="Y must hold 0/1 labels"):
        net.score(X, np.eye(3)[labels] * 2, metric="multilabel_exact")
    with pytest.raises(ValueError, match="metric must be one of"):
        net.score(X, Y, metric="f1")


def test_score_r2_conventions():
    net, X, Y = regression()
    a = net.forward(X)
    assert net.score(X, a) == 1.0
    assert net.score(X, np.full_like(a, 2.0)) == 0.0      # constant targets (scikit-learn)
    pm = np.where(a > 0, 1.0, -1.0)                        # -1/+1 targets: sign accuracy
    assert net.score(X, pm) == 1.0 and net.score(X, pm, metric="r2") < 1.0


# ---------------------------------------------------------------- NaN, inf, broadcasting

def test_fit_refuses_nan_dropout_before_training():
    net, X, Y = binary()
    theta = net.theta.copy()
    for bad in (NAN, INF, "0.5", [NAN]):
        with pytest.raises(ValueError, match="dropout rate"):
            net.fit(X, Y, loss="bce", dropout=bad, verbose=0)
    np.testing.assert_array_equal(net.theta, theta)


def test_perceptron_refuses_non_finite_parameters():
    with pytest.raises(ValueError, match="b must be a finite real number"):
        nb.Perceptron(2, b=NAN)
    with pytest.raises(ValueError, match="lr must be a finite real number > 0"):
        nb.Perceptron(2, lr=INF)
    with pytest.raises(ValueError, match="w contains NaN"):
        nb.Perceptron(2, w=[1, NAN])
    with pytest.raises(ValueError, match=r"y must have shape \(m,\) or \(m, 1\)"):
        nb.Perceptron(2).fit(np.zeros((4, 2)), np.zeros((2, 2)))


def test_perceptron_output_never_broadcasts_the_threshold():
    assert nb.perceptron_output([1, 1], [1, 1], threshold=1.5) == 1
    with pytest.raises(ValueError, match="threshold must be a finite real number"):
        nb.perceptron_output([1, 1], [1, 1], threshold=NAN)
    with pytest.raises(ValueError, match="threshold must be a finite real number"):
        nb.perceptron_output([1, 1], [1, 1], threshold=[0.5, 5])
    with pytest.raises(ValueError, match=r"x must have shape \(2,\) or \(m, 2\)"):
        nb.perceptron_output([1, 1, 1], [1, 1], threshold=0.5)


@pytest.mark.parametrize("eps", [NAN, 0, -1e-6, INF, "1e-6"])
def test_gradcheck_refuses_bad_eps(eps):
    net, X, Y = regression(4)
    with pytest.raises(ValueError, match=r"eps must be .*\(0, 1\]"):
        nb.gradcheck(net, X, Y, eps=eps)


# ---------------------------------------------------------------- callbacks, before any work

def test_a_bare_function_is_one_callback():
    net, X, Y = binary()
    seen = []
    net.fit(X, Y, loss="bce", epochs=3, verbose=0, callbacks=lambda n, e, logs: seen.append(e))
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("callbacks", [[3], 3, "f", [lambda *a: None, None]])
def test_bad_callbacks_fail_before_the_first_epoch(callbacks):
    net, X, Y = binary()
    opt = nb.Adam(lr=0.01)
    net.fit(X, Y, loss="bce", optimizer=opt, epochs=1, verbose=0)
    theta, state, t = net.theta.copy(), opt.state.copy(), opt.t
    with pytest.raises(TypeError, match="callbacks"):
        net.fit(X, Y, loss="bce", optimizer=opt, epochs=2, verbose=0, callbacks=callbacks)
    np.testing.assert_array_equal(net.theta, theta)
    np.testing.assert_array_equal(opt.state, state)
    assert opt.t == t


def test_fit_checks_every_argument_before_changing_the_network():
    net, X, Y = binary()
    opt = nb.SGD(lr=0.1)
    net.fit(X, Y, loss="bce", optimizer=opt, epochs=1, verbose=0)
    theta, state = net.theta.copy(), opt.state.copy()
    bad = [dict(trace=3), dict(validation_data=(X, Y[:, 0] + 5)), dict(shuffle="yes"),
           dict(restore_best=None), dict(verbose="0"), dict(patience=1.5), dict(schedule=3)]
    for kwargs in bad:
        with pytest.raises((ValueError, TypeError), match=next(iter(kwargs))):
            net.fit(X, Y, loss="bce", optimizer=opt, epochs=2, **{"verbose": 0, **kwargs})
        np.testing.assert_array_equal(net.theta, theta)
        np.testing.assert_array_equal(opt.state, state)


# ---------------------------------------------------------------- clear errors, not internals

@pytest.mark.parametrize("seed", [-1, 1.5, 2**64, "0", NAN])
def test_bad_seeds(seed):
    net, X, Y = binary()
    with pytest.raises(ValueError, match="seed must be an integer in"):
        net.fit(X, Y, loss="bce", seed=seed, verbose=0)
    with pytest.raises(ValueError, match="seed must be an integer in"):
        nb.MLP([2, 1], seed=seed)
    with pytest.raises(ValueError, match="seed must be an integer in"):
        nb.Sequential((2,), [nb.Dense(1)], seed=seed)


def test_constructors_name_their_arguments():
    with pytest.raises(TypeError, match="sizes must be a list of layer sizes"):
        nb.MLP(3)
    with pytest.raises(ValueError, match=r"sizes\[1\] must be a positive integer <= 2147483647"):
        nb.MLP([2, 2**70, 1])
    with pytest.raises(ValueError, match="unknown hidden activation 'relux'"):
        nb.MLP([2, 3, 1], hidden="relux")
    with pytest.raises(ValueError, match="bias_init"):
        nb.Dense(3, bias_init="nope")
    with pytest.raises(TypeError, match="layers must be a list of Dense layers"):
        nb.Network(2, 5)
    with pytest.raises(TypeError, match="layers must be a list of layers"):
        nb.Sequential((2,), nb.Dense(1))
    with pytest.raises(ValueError, match="elu alpha must be a finite real number > 0"):
        nb.MLP([2, 3, 1], hidden="elu", alpha=INF)
    assert nb.Conv2D(2, 3, padding="valid").pads() == ((0, 0), (0, 0))


def test_recorder_arguments():
    net, X, Y = binary()
    rec = Recorder(keep="norms", steps=np.arange(3))     # integer arrays select steps
    net.fit(X, Y, loss="bce", batch_size=10, epochs=1, trace=rec, verbose=0)
    assert rec.trace.steps.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="budget_mb"):
        Recorder(budget_mb="64")
    with pytest.raises(ValueError, match="budget_mb"):
        Recorder(budget_mb=NAN)
    with pytest.raises(ValueError, match="steps must be integers >= 0"):
        Recorder(steps=[-1])
    with pytest.raises(ValueError, match="steps slice start"):
        Recorder(steps=slice("a", 3))
    with pytest.raises(TypeError, match="keep must be"):
        Recorder(keep=3)
    with pytest.raises(ValueError, match="layers must be integers >= 1"):
        Recorder(layers=[0])
    with pytest.raises(TypeError, match="epochs must be an integer or a list"):
        Recorder(epochs=1.5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(clip_value="1"), "clip_value must be a finite real number > 0"),
    (dict(clip_norm=INF), "clip_norm must be a finite real number > 0"),
    (dict(l2=[0.1]), "l2 must be a finite real number"),
    (dict(validation_data=3), "validation_data must be a pair"),
    (dict(epochs=True), "epochs must be a positive integer"),
])
def test_fit_option_errors(kwargs, match):
    net, X, Y = binary()
    with pytest.raises(ValueError, match=match):
        net.fit(X, Y, loss="bce", verbose=0, **kwargs)


@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog", "eel"] * 10),
    np.array(["cat", "dog", "eel"] * 10, dtype=object),
])
def test_string_and_categorical_labels_are_refused_with_the_encoding_hint(labels):
    net = nb.MLP([2, 4, 3], output="softmax", seed=0)
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(TypeError, match=r"encode .* np.unique\(y, return_inverse=True\)"):
        net.fit(X, labels, loss="ce", verbose=0)
    classes, y = np.unique(labels, return_inverse=True)
    net.fit(X, y, loss="ce", verbose=0, epochs=1)
    assert set(classes[net.predict(X)]) <= {"cat", "dog", "eel"}


def test_arbitrary_integer_labels_are_refused():
    net = nb.MLP([2, 4, 3], output="softmax", seed=0)
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.2 .*min 10 and max 30.*np.unique"):
        net.fit(X, np.array([10, 20, 30] * 10), loss="ce", verbose=0)


def test_set_params_checks_every_array_before_writing():
    net = nb.MLP([2, 3, 1], seed=0)
    theta = net.theta.copy()
    W = [np.ones((3, 2)), np.full((1, 3), NAN)]
    with pytest.raises(ValueError, match=r"W\[2\] contains NaN"):
        net.set_params(W, [np.zeros(3), np.zeros(1)])
    with pytest.raises(ValueError, match=r"b\[1\] has shape \(3,\), got \(\)"):
        net.b[1] = 0.0                                     # no silent broadcasting
    np.testing.assert_array_equal(net.theta, theta)


def test_ragged_and_odd_inputs():
    net, X, Y = binary()
    with pytest.raises(ValueError, match="X must be an array of numbers"):
        net.predict([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match="X must be an array of numbers"):
        net.predict(None)
    with pytest.raises(TypeError, match="X must hold real numbers"):
        net.predict(X + 1j)


# ---------------------------------------------------------------- Sequential, the same care

def test_sequential_validates_as_network():
    net, X, y = cnn()
    theta = net.theta.copy()
    with pytest.raises(ValueError, match="dropout rate"):
        net.fit(X, y, loss="ce", dropout=NAN, verbose=0)
    with pytest.raises(TypeError, match=r"callbacks\[0\]"):
        net.fit(X, y, loss="ce", callbacks=[3], verbose=0)
    with pytest.raises(ValueError, match="seed"):
        net.fit(X, y, loss="ce", seed=-1, verbose=0)
    np.testing.assert_array_equal(net.theta, theta)
    with pytest.raises(ValueError, match="whole numbers"):
        net.score(X, y + 0.5)
    with pytest.raises(ValueError, match=r"Y has shape \(12, 4\) but the network has 3"):
        net.score(X, np.eye(4)[y])
    with pytest.raises(ValueError, match="Y is empty"):
        net.evaluate(X, y[:0], "ce")
    assert 0 <= net.score(X, y) <= 1


def test_optimizer_and_schedule_checks_are_the_shared_ones():
    with pytest.raises(ValueError, match="lr must be a finite real number > 0, got nan"):
        optim.Adam(lr=NAN)
    with pytest.raises(ValueError, match="momentum_form must be one of"):
        optim.SGD(momentum_form=["torch"])
    with pytest.raises(ValueError, match="momentum must be a finite real number"):
        optim.Momentum(momentum=np.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="gamma must be a finite real number"):
        nb.schedules.Exponential("0.9")
