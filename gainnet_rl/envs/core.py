"""The GainNet-v1 dynamics: one batched transition, compiled with numba.

Everything the scalar env, the vector env, the heuristics and the tests know
about the network's behaviour goes through this module, the public facade of
the dynamics: the state (``state.py``), each option's outcome
(``outcomes.py``), the transition (``dynamics.py``), scheduled events
(``events.py``) and the episode KPIs (``metrics.py``). All state arrays carry a
leading batch dimension B (sub-environments); the loops over sub-envs,
devices, edges and requests run in compiled kernels (``slot.py``,
``decide.py``, the outcome and observation kernels, the models' own), never
in interpreted Python. :func:`step` updates the state in place (and
returns it); :func:`request_outcomes` and :func:`action_mask` only read it.

Decisions (SYSTEM_MODEL section 8) come one per call of :func:`step`:

1. At a frame boundary (every K slots), one *plan* decision per edge, in
   index order: an index into the plan catalog (``Params.plan_*``).
2. Then, one *request* decision per request that arrived in the slot, in
   arrival order: an option index, ``0`` local, ``1 + e`` edge e, ``1 +
   E_max`` cloud, ``2 + E_max`` reject.
3. When a slot has no decision left, time advances one slot (and more, while
   slots bring no decision).

Resources are FIFO servers whose free times are kept in absolute seconds:
each edge's uplink and downlink sub-bands, its backhaul, its ``max_batch``
compute streams (with the KV-cache memory each holds), the cloud's streams
and each device. A request's path and timing are fixed when it is decided,
with the rates of that instant (section 12), so its outcome is known then
and its whole reward is credited to the step that decides it; a request
that cannot meet its deadline is aborted at it, every stage holding it only
until then. Served and dropped requests are counted in the slot they happen
(an event ring), which is what the per-step ``info`` and the episode KPIs
report. Scheduled edge events that change decided requests' outcomes credit
the difference in the slot of the event (section 12.5).
"""

from __future__ import annotations

from gainnet_rl.envs.dynamics import draw_all_links, reset, step
from gainnet_rl.envs.metrics import episode_metrics, pending, undecided
from gainnet_rl.envs.models.reward import TERMS
from gainnet_rl.envs.outcomes import (
    action_mask,
    decision_type,
    plan_choices,
    plan_mask,
    request_outcomes,
)
from gainnet_rl.envs.state import (
    DECISION_NONE,
    DECISION_PLAN,
    DECISION_REQUEST,
    EP_FIELDS,
    REC_FIELDS,
    RING_FIELDS,
    STEP_INFO,
    State,
    arange,
    concat,
    db_to_linear,
    derived,
    put,
    take,
)

__all__ = [
    "DECISION_NONE",
    "DECISION_PLAN",
    "DECISION_REQUEST",
    "EP_FIELDS",
    "REC_FIELDS",
    "RING_FIELDS",
    "STEP_INFO",
    "TERMS",
    "State",
    "action_mask",
    "arange",
    "concat",
    "db_to_linear",
    "decision_type",
    "derived",
    "draw_all_links",
    "episode_metrics",
    "pending",
    "plan_choices",
    "plan_mask",
    "put",
    "request_outcomes",
    "reset",
    "step",
    "take",
    "undecided",
]
