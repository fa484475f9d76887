"""Learned models the search strategies use (DESIGN.md, ``fitnas/predictors/``).

* :class:`RankingController`: paper 000's relative ranking controller (encoder GRU + ranking
  GRU, eq. 3 loss), and :class:`GRURegressor`, the single-network GRU it is compared with
  (paper 000 Table 4);
* :func:`merit_score`: paper 000 eq. 4, accuracy gain against memory growth;
* :func:`ndcg_at_k`, :func:`ap_at_k`: the ranking metrics of paper 000 Table 4;
* :class:`LSTMRegressor`: the accuracy regressor of DPP-Net's progressive search (paper 003
  section 4.1; PNAS' LSTM ensemble), ``fitnas.strategies.progressive``;
* :class:`TokenPolicy`: MONAS' robot network (paper 003 section 3), trained by REINFORCE
  (``fitnas.strategies.reinforce``).
"""

from __future__ import annotations

from ._sequences import Sample
from .merit import merit_score
from .metrics import ap_at_k, ndcg_at_k
from .policy import TokenPolicy
from .ranking import GRURegressor, RankingController
from .regressor import LSTMRegressor

__all__ = ["GRURegressor", "LSTMRegressor", "RankingController", "Sample", "TokenPolicy", "ap_at_k",
           "merit_score", "ndcg_at_k"]
