"""Per-class constants of the fused hard-label path: a loss that is a
weighted sum of margin and focal terms (:class:`TermSpec`) gathers each
sample's target-logit shifts and class weight from one table
(:class:`ClassTermTable`) and runs :class:`~.margin_focal_nll.MarginFocalNLL`
once."""
from typing import NamedTuple, Optional, Tuple

import torch

from .margin_focal_nll import MarginFocalNLL, loss_terms


class TermSpec(NamedTuple):
    """One term of a loss computed by :class:`MarginFocalNLL` from
    per-class constants (see :class:`ClassTermTable`)."""
    #: logit scale ``s_t``
    scale: float
    #: focusing parameter ``gamma_t`` (0: cross-entropy)
    gamma: float
    #: weight of the term in the loss
    weight: float
    #: subtract ``s_t * Delta_y`` from the target logit (LDAM)
    margin: bool
    #: divide the class weights by their batch mean (PyTorch's weighted mean)
    normalize: bool


class ClassTermTable:
    """Per-class constants of a hard-label loss of :class:`MarginFocalNLL`
    terms, built once and reused while they stay valid.

    A sample's target-logit shifts ``-s_t Delta_y`` and class weight
    ``w_y`` depend only on its class, so they live in one ``(C, 2, T, 1)``
    table and a batch needs one ``index_select`` for both; the terms'
    weights times a reduction's scale are cached per scale and batch size.
    Valid while the specs, the margin and class-weight tensors (by identity
    and in-place version) and the logits' dtype, device and number of
    classes are the same (:meth:`is_valid` checks all but the specs: the
    owning loss drops its table whenever one of its attributes is set).

    Args:
        specs (tuple[TermSpec]): the terms.
        margins (Tensor, optional): ``(C,)`` margins ``Delta`` (needed by
            terms with ``margin``).
        class_weight (Tensor, optional): ``(C,)`` class weights ``w``.
        like (Tensor): ``(N, C)`` logits of the dtype and device to build
            for.
    """

    def __init__(self, specs: Tuple[TermSpec, ...],
                 margins: Optional[torch.Tensor],
                 class_weight: Optional[torch.Tensor], like: torch.Tensor):
        self.specs = specs
        self.num_classes = like.size(1)
        self.margins = margins
        self.margins_version = None if margins is None else margins._version
        self.class_weight = class_weight
        self.class_weight_version = None if class_weight is None else \
            class_weight._version
        self.dtype, self.device = like.dtype, like.device
        self.terms = loss_terms(tuple(t.scale for t in specs),
                                tuple(t.gamma for t in specs),
                                tuple(t.margin for t in specs), like.dtype,
                                like.device)
        self.any_normalize = any(t.normalize for t in specs)
        self.any_margin = any(t.margin for t in specs)
        with torch.inference_mode(False), torch.no_grad():
            zeros = like.new_zeros(self.num_classes)
            shift = torch.stack([
                margins.to(like) * -t.scale if t.margin else zeros
                for t in specs
            ], 1)
            weight = torch.ones_like(shift) if class_weight is None else \
                class_weight.to(like)[:, None].expand_as(shift)
            self.table = torch.stack([shift, weight],
                                     1)[..., None].contiguous()
        self._weights = {}

    def is_valid(self, margins: Optional[torch.Tensor],
                 class_weight: Optional[torch.Tensor],
                 like: torch.Tensor) -> bool:
        """Whether the table was built from these tensors (not modified in
        place since) for logits like ``like`` (the owner rebuilds it when
        its specs change)."""
        return (like.dtype is self.dtype
                and like.size(1) == self.num_classes
                and like.device == self.device
                and margins is self.margins
                and (margins is None
                     or margins._version == self.margins_version)
                and class_weight is self.class_weight
                and (class_weight is None
                     or class_weight._version == self.class_weight_version))

    def term_weights(self, scale: float, num: int
                     ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Minus each term's weight times ``scale``, ``(1, T, 1)``: for the
        terms that do not normalise, for those that do times the batch size
        ``num`` (zeros elsewhere), and for all; cached per scale and batch
        size."""
        weights = self._weights.get((scale, num))
        if weights is None:
            if len(self._weights) >= 16:  # e.g. many distinct avg_factor
                self._weights.clear()

            def column(normalize, factor=1.0):
                return torch.tensor([
                    -t.weight * scale * factor if t.normalize in normalize
                    else 0.0 for t in self.specs
                ], dtype=self.dtype, device=self.device)[None, :, None]

            with torch.inference_mode(False):
                weights = (column((False, )), column((True, ), num),
                           column((False, True)))
            self._weights[(scale, num)] = weights
        return weights

    def __call__(self, logits: torch.Tensor, target: torch.Tensor,
                 scale: float = 1.0, total: bool = False) -> torch.Tensor:
        """``scale`` times the ``(N,)`` losses of ``(N,)`` class indices,
        or their sum when ``total``."""
        num = target.size(0)
        plain, normalized, every = self.term_weights(scale, num)
        shift, omega = self.table.index_select(0, target).unbind(1)
        if self.class_weight is None:  # unit weights: their mean is 1
            minus_coef = every.expand(num, -1, 1)
        elif self.any_normalize:  # divided by the batch mean of omega
            minus_coef = omega * torch.addcdiv(
                plain, normalized,
                omega.sum(0, keepdim=True).clamp_min_(1e-12 * num))
        else:
            minus_coef = omega * plain
        return MarginFocalNLL.apply(logits, target,
                                    shift if self.any_margin else None,
                                    minus_coef, self.terms, total)
