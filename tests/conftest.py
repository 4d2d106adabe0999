"""Shared fixtures: a small scenario with round numbers, so tests can work values out by hand."""
import numpy as np
import pytest
from hypothesis import settings

import edgelearn as el

# The machine is shared and small: judge properties, not speed.
settings.register_profile("edgelearn", deadline=None, max_examples=50)
settings.load_profile("edgelearn")


def hand_scenario(**changes):
    """K = 2 devices; gains chosen so that the uplink SNR is exactly 1 (device 0) and 3 (device 1)
    at p = 0.5 W, and the downlink SNR is exactly 1 for both devices."""
    W, N0 = 1e5, 1e-16
    values = dict(
        K=2, gamma=0.01,
        f_max=2e9, c=10.0, phi=1e-27, eta=2.0, D_max=500, P_server=1.0,
        f_hat_max=5e8, c_hat=5.0, phi_hat=[1e-27, 2e-27], eta_hat=1.0, B_max=400,
        P_ave=0.5, P_max=1.0, W_up=W,
        W_down=W, N0=N0, N0_down=N0,
        g_up=np.array([1.0, 3.0]) * W * N0 / 0.5,
        g_down=np.array([1.0, 1.0]) * W * N0 / 1.0,
        beta=2e5, n_flop=1e6, tau0=100.0, E0=50.0,
        rho=10.0, rho_hat=20.0, alpha2=4.0, alpha_hat2=6.0, rho_tilde=0.5, wasserstein=2.0, loss_gap=3.0,
    )
    values.update(changes)
    return el.Scenario(**values)


@pytest.fixture
def hand():
    return hand_scenario()


# ---------------------------------------------------------------- running in parallel (pytest-xdist)
#: The test modules that share the one book build of a session: test_lab.py runs the live-explorer
#: notebooks in JupyterLab and fills the build cache, test_site.py then builds the book from it and
#: checks the site.  They must run in one worker, in that order.
BOOK_MODULES = ("tests/test_lab.py", "tests/test_site.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """With ``-n``: the book's tests form one unit of work, sent to one worker (it is the largest
    unit, so it starts first), and every other test is scheduled on its own beside it.
    (``--dist loadgroup`` would do this with marks, but pytest-xdist 3.8 cannot rename the nodes of
    pytest >= 9.2, so the groups are lost.)"""
    from xdist.scheduler import LoadScopeScheduling

    class BookInOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return "book" if nodeid.startswith(BOOK_MODULES) else nodeid

    return BookInOneWorker(config, log)
