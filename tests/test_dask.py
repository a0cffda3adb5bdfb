"""Sweeps beyond one process: GridSearchCV through joblib's process pool and
on a Dask cluster (joblib's Dask backend), and estimators and trained
networks that travel between processes by pickle."""
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV  # noqa: E402

from numbann.data import load_digits  # noqa: E402
from numbann.sklearn import MLPClassifier  # noqa: E402

GRID = {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-2]}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return X[:300] / 16.0, y[:300]


def small_classifier():
    return MLPClassifier(max_iter=5, n_iter_no_change=None, batch_size=32,
                         learning_rate_init=3e-3, random_state=0)


def search(X, y, n_jobs):
    return GridSearchCV(small_classifier(), GRID, cv=2, n_jobs=n_jobs).fit(X, y)


def scores(result):
    return result.cv_results_["mean_test_score"]


def test_grid_search_all_cores_matches_serial(digits):
    X, y = digits
    serial, parallel = search(X, y, 1), search(X, y, -1)
    np.testing.assert_array_equal(scores(parallel), scores(serial))
    assert parallel.best_params_ == serial.best_params_


def predict_in_child(blob, X):
    """Run in another process: unpickle an estimator and a network, predict."""
    est, net = pickle.loads(blob)
    return est.predict_proba(X), net.forward(X)


def test_estimator_and_network_predict_the_same_in_another_process(digits):
    X, y = digits
    est = small_classifier().fit(X, y)
    blob = pickle.dumps((est, est.network_))
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter, nothing inherited
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        proba, a_L = pool.submit(predict_in_child, blob, X).result(timeout=120)
    np.testing.assert_array_equal(proba, est.predict_proba(X))
    np.testing.assert_array_equal(a_L, est.network_.forward(X))


def test_grid_search_on_a_dask_cluster_matches_serial(digits):
    pytest.importorskip("distributed")
    from dask.distributed import Client, LocalCluster, get_task_stream
    from joblib import parallel_config

    X, y = digits
    serial = search(X, y, 1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        with parallel_config(backend="dask"), get_task_stream(client) as tasks:
            on_cluster = search(X, y, -1)
        workers = set(client.scheduler_info()["workers"])
    assert len(workers) == 2
    ran_on = {task["worker"] for task in tasks.data}
    assert ran_on and ran_on <= workers  # the fits ran on the cluster's workers
    np.testing.assert_array_equal(scores(on_cluster), scores(serial))
    assert on_cluster.best_params_ == serial.best_params_
    np.testing.assert_array_equal(on_cluster.predict_proba(X),
                                  serial.best_estimator_.predict_proba(X))
