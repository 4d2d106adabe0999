"""``python -m edgelearn.flower._child SPEC``: run one FedSGD fine-tuning through ``run_simulation``.

Started by :func:`edgelearn.flower.run` (inside a loopback-only network namespace); the
ServerApp writes the History to the spec's ``out``.  The process ends with ``os._exit`` so that
a ServerApp thread still waiting for SuperNodes (after Ray failed to start, say) cannot keep
it alive; exit status 0 (done), 1 (failed).
"""
import os
import sys
import traceback
import warnings


def main(spec_path: str) -> int:
    from flwr.simulation import run_simulation

    from .apps import client_app, load_spec, server_app

    spec = load_spec(spec_path)
    # The spec reaches the apps through the run config; run_simulation has no run-config
    # argument, so the apps fall back to this variable (see apps._spec).
    os.environ["EDGELEARN_FLOWER_SPEC"] = spec_path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        run_simulation(server_app=server_app, client_app=client_app, num_supernodes=spec["K"],
                       backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                       "init_args": {"num_cpus": spec["ray_cpus"], "include_dashboard": False,
                                                     "logging_level": "error", "log_to_driver": True}},
                       verbose_logging=False)
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv[1])
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
