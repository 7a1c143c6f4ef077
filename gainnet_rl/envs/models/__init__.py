"""Pluggable domain models, each behind an ``abc.ABC`` base and chosen by
Hydra ``_target_`` in the scenario config."""

from gainnet_rl.envs.models.arrivals import ArrivalModel, BurstyArrivals, PoissonArrivals
from gainnet_rl.envs.models.channel import ChannelModel, TR38901Channel, UMaChannel
from gainnet_rl.envs.models.mobility import MobilityModel, MultiLaneRoad, RandomWaypoint, Static
from gainnet_rl.envs.models.reward import TERMS, LinearReward, RewardModel

__all__ = [
    "TERMS",
    "ArrivalModel",
    "BurstyArrivals",
    "ChannelModel",
    "LinearReward",
    "MobilityModel",
    "MultiLaneRoad",
    "PoissonArrivals",
    "RandomWaypoint",
    "RewardModel",
    "Static",
    "TR38901Channel",
    "UMaChannel",
]
