"""Studies built on the env, the agents and the evaluation: case studies, the
sweep report, sensitivity, reward terms, calibration and the benchmark."""
