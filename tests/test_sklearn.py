"""numbann.sklearn: scikit-learn's estimator checks, pipelines, searches, pickling."""
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from numbann.data import load_digits  # noqa: E402
from numbann.sklearn import CNNClassifier, MLPClassifier, MLPRegressor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# small networks so that each check is quick; the checks' data sets (blobs,
# iris, make_regression) are learnt well above their thresholds by these
SMALL = dict(random_state=0, learning_rate_init=1e-2)
CHECKED = [MLPClassifier(hidden_layer_sizes=(16,), **SMALL),
           MLPRegressor(hidden_layer_sizes=(16,), **SMALL),
           CNNClassifier(conv_layers=((4, 3),), **SMALL)]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CHECKED, expected_failed_checks=lambda est: {})
def test_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return X[:600], y[:600]


def quiet(est):
    # fixed epochs (no ConvergenceWarning) of batches of 32 (more steps than "auto")
    return est.set_params(n_iter_no_change=None, batch_size=32, learning_rate_init=3e-3)


def test_import_numbann_does_not_import_sklearn():
    code = "import numbann, sys; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_pipeline_with_scaler(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), quiet(MLPClassifier((32,), max_iter=30,
                                                               random_state=0)))
    pipe.fit(X[:450], y[:450])
    assert pipe.score(X[450:], y[450:]) > 0.85
    cnn = make_pipeline(StandardScaler(), quiet(CNNClassifier(max_iter=20, random_state=0)))
    cnn.fit(X[:450], y[:450])  # flat rows of 64 -> (1, 8, 8) images
    assert cnn[-1].input_shape_ == (1, 8, 8)
    assert cnn.score(X[450:], y[450:]) > 0.8


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search(digits, n_jobs):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), quiet(MLPClassifier(max_iter=15, random_state=0)))
    grid = {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)],
            "mlpclassifier__alpha": [1e-4, 1e-2]}
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=n_jobs).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ > 0.8
    assert search.best_estimator_.predict(X[:5]).shape == (5,)


def test_cross_val_score_and_clone(digits):
    X, y = digits
    est = quiet(MLPClassifier((32,), max_iter=20, random_state=0))
    scores = cross_val_score(est, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "network_")
    a = est.fit(X, y).predict_proba(X[:20])
    b = clone(est).fit(X, y).predict_proba(X[:20])
    np.testing.assert_array_equal(a, b)  # same random_state, same network


def test_regressor_r2_and_multioutput():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    Y = np.stack([X @ [1.0, -2.0, 0.5, 0.0], np.sin(X[:, 0])], axis=1)
    est = quiet(MLPRegressor((32,), max_iter=100, learning_rate_init=1e-2, random_state=0))
    assert est.fit(X, Y[:, 0]).predict(X).shape == (300,)
    assert est.score(X, Y[:, 0]) > 0.95
    assert est.fit(X, Y).predict(X).shape == (300, 2) and est.n_outputs_ == 2


def test_string_labels_and_binary_proba():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(-2, 1, (40, 3)), rng.normal(2, 1, (40, 3))])
    y = np.array(["spam"] * 40 + ["ham"] * 40, dtype=object)
    for est in (MLPClassifier((8,), random_state=0), CNNClassifier(random_state=0)):
        quiet(est).set_params(max_iter=50, learning_rate_init=1e-2).fit(X, y)
        assert list(est.classes_) == ["ham", "spam"]
        proba = est.predict_proba(X)
        assert proba.shape == (80, 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert set(est.predict(X)) == {"ham", "spam"} and est.score(X, y) > 0.95
        np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])


def test_partial_fit(digits):
    X, y = digits

    est = MLPClassifier((32,), random_state=0)
    with pytest.raises(ValueError, match="classes must be given"):
        est.partial_fit(X[:100], y[:100])
    est.partial_fit(X[:100], y[:100], classes=np.arange(10))
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 1
    for _ in range(30):
        for start in range(0, 600, 100):
            est.partial_fit(X[start:start + 100], y[start:start + 100])
    assert est.n_iter_ == 181 and est.history_.loss == est.loss_curve_[-1:]
    assert est.score(X, y) > 0.9
    with pytest.raises(ValueError, match="not in classes_"):
        est.partial_fit(X[:3], np.array([0, 1, 11]))
    reg = MLPRegressor((8,), random_state=0).partial_fit(X[:50], y[:50].astype(float))
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(X[:50, :10], y[:50])


def test_warm_start_continues(digits):
    X, y = digits

    est = quiet(MLPClassifier((16,), max_iter=5, random_state=0, warm_start=True))
    est.fit(X, y)
    first = est.network_
    theta = first.theta.copy()
    est.fit(X, y)
    assert est.network_ is first and not np.array_equal(first.theta, theta)
    assert est.n_iter_ == 10 and len(est.loss_curve_) == 10
    cold = clone(est).set_params(warm_start=False).fit(X, y).fit(X, y)
    assert cold.n_iter_ == 5


def test_stopping_rules_and_early_stopping(digits):
    X, y = digits

    est = MLPClassifier((16,), max_iter=500, tol=1e-1, n_iter_no_change=2, random_state=0)
    est.fit(X, y)  # a tolerance this large stops after a few epochs
    assert est.n_iter_ < 500 and est.best_loss_ == min(est.loss_curve_)
    est = MLPClassifier((16,), max_iter=300, early_stopping=True, n_iter_no_change=3,
                        learning_rate_init=1e-2, random_state=0).fit(X, y)
    assert est.n_iter_ < 300 and len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_) > 0.85
    with pytest.warns(ConvergenceWarning):
        MLPClassifier((4,), max_iter=2, random_state=0).fit(X, y)


def test_pickle_round_trip(digits):
    X, y = digits

    for est in (quiet(MLPClassifier((16,), max_iter=10, random_state=0)),
                quiet(CNNClassifier(max_iter=3, random_state=0))):
        est.fit(X, y)
        back = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
        back.partial_fit(X, y)  # and goes on training
        net = pickle.loads(pickle.dumps(est.network_))
        np.testing.assert_array_equal(net.theta, est.network_.theta)


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = (df["a"] > 0).to_numpy()
    est = quiet(MLPClassifier((8,), max_iter=20, random_state=0)).fit(df, y)
    assert list(est.feature_names_in_) == ["a", "b", "c"] and est.n_features_in_ == 3
    assert est.predict(df).dtype == bool
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(df.to_numpy())


def test_parameters_are_not_validated_in_init():
    est = MLPClassifier(hidden_layer_sizes="nonsense", solver=3, dtype="int8")
    assert est.get_params()["solver"] == 3
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="dtype"):
        est.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match="input_shape"):
            CNNClassifier(input_shape=(1, 3, 3)).fit(np.zeros((4, 8)), y)


def test_solver_names_and_objects(digits):
    import numbann as nb
    X, y = digits
    for solver in ("sgd", "nesterov", "rmsprop", nb.Adam(lr=3e-3)):
        est = quiet(MLPClassifier((16,), solver=solver, max_iter=10, random_state=0))
        est.set_params(learning_rate_init=1e-1 if solver == "sgd" else 3e-2 if solver == "nesterov" else 3e-3)
        twin = clone(est).fit(X, y)
        assert twin.score(X, y) > 0.8
    assert getattr(solver, "state", None) is None  # the object given is copied, never trained
