"""gainnet-rl: a Gymnasium environment and agents for GainNet, orchestration of
generative-AI services in cloud-edge-end 6G networks (Chen et al., IEEE Network 2024)."""

from gainnet_rl.envs.registration import register_envs

__version__ = "0.1.0"

register_envs()

__all__ = ["__version__", "register_envs"]
