"""Evaluation: the one rollout loop, comparison tables, run folders and policy
loading, and the evaluate and baselines CLIs."""
