"""Robust asymmetric loss (RAL) for multi-label (sigmoid) classification."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmpretrain.models.losses import weight_reduce_loss
from mmpretrain.registry import MODELS

from .base import MMPretrainLoss
from .utils import focusing_weight, prepare_target


def multilabel_target(label: torch.Tensor, logits: torch.Tensor,
                      owner: str = 'loss') -> torch.Tensor:
    """``(N, C)`` 0/1 or soft targets in the dtype of ``logits``.

    ``(N,)`` or ``(N, 1)`` integer class indices become one-hot rows (as in
    MMPretrain's ``AsymmetricLoss``); ``(N, C)`` targets (bool, int or float)
    must lie in ``[0, 1]``.
    """
    target = prepare_target(label, logits, owner)
    if target.dim() == 1:
        return F.one_hot(target, logits.size(1)).to(logits.dtype)
    if target.numel() and bool((target > 1).any()):
        raise ValueError(f'{owner}: multi-label targets must lie in [0, 1], '
                         f'got a maximum of {float(target.max())}')
    return target


def element_weight(weight: Optional[torch.Tensor],
                   loss: torch.Tensor) -> Optional[torch.Tensor]:
    """A sample weight ``(N,)`` / ``(N, 1)`` or an element weight ``(N, C)``
    in a shape that broadcasts against the ``(N, C)`` loss."""
    if weight is None:
        return None
    weight = weight.to(loss.dtype)
    if weight.dim() == 1 and weight.size(0) == loss.size(0):
        return weight.reshape(-1, 1)
    if weight.dim() == 2 and weight.size(0) == loss.size(0) and \
            weight.size(1) in (1, loss.size(1)):
        return weight
    raise ValueError(f'weight must have shape ({loss.size(0)},), '
                     f'({loss.size(0)}, 1) or {tuple(loss.shape)}, got '
                     f'{tuple(weight.shape)}')


class AsymmetricFocusingLoss(MMPretrainLoss):
    """Base of the asymmetric (ASL-style) sigmoid multi-label losses.

    It holds the arguments they share (focusing exponents, probability
    margin, log clamp) and implements MMPretrain's loss contract
    (:class:`~.base.MMPretrainLoss`) around the subclass's element-wise
    loss (:meth:`elementwise`): ``(N, C)`` 0/1 or soft targets, or ``(N,)``
    class indices (one-hot rows); ``(N,)`` sample or ``(N, C)`` element
    weights; ``weight_reduce_loss`` with ``avg_factor``.

    Args:
        gamma_neg (float): Focusing exponent of negatives, ``>= 0``.
        gamma_pos (float): Focusing exponent of positives, ``>= 0``.
        clip (float, optional): Probability margin of negatives, in
            ``[0, 1)``; None or 0 disables it.
        eps (float): Lower clamp of the probabilities, in ``(0, 1)``.
        detach_focusing_weight (bool): Compute the focusing weights without
            gradient.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplier of the loss.
    """

    def __init__(self, gamma_neg: float, gamma_pos: float,
                 clip: Optional[float], eps: float,
                 detach_focusing_weight: bool, reduction: str,
                 loss_weight: float):
        super().__init__(reduction, loss_weight)
        name = type(self).__name__
        if gamma_neg < 0 or gamma_pos < 0:
            raise ValueError(f'{name}: gamma_neg and gamma_pos must be >= 0, '
                             f'got {gamma_neg} and {gamma_pos}')
        if clip is not None and not 0 <= clip < 1:
            raise ValueError(f'{name}: clip must be None or in [0, 1), got '
                             f'{clip}')
        if not 0 < eps < 1:
            raise ValueError(f'{name}: eps must be in (0, 1), got {eps}')
        self.gamma_neg = float(gamma_neg)
        self.gamma_pos = float(gamma_pos)
        self.clip = clip
        self.eps = float(eps)
        self.detach_focusing_weight = bool(detach_focusing_weight)

    def elementwise(self, logits: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` losses of float logits and ``(N, C)`` targets in
        ``[0, 1]`` (subclasses)."""
        raise NotImplementedError

    def reduced_loss(self, logits: torch.Tensor, label: torch.Tensor,
                     weight: Optional[torch.Tensor], reduction: str,
                     avg_factor: Optional[float]) -> torch.Tensor:
        """The element-wise loss (:meth:`elementwise`) reduced with
        ``weight_reduce_loss``.  ``label``: ``(N, C)`` 0/1 or soft targets,
        or ``(N,)`` class indices; ``weight``: ``(N,)`` sample weights or
        ``(N, C)`` element weights; ``'none'`` returns ``(N, C)``."""
        target = multilabel_target(label, logits, type(self).__name__)
        loss = self.elementwise(logits, target)
        return weight_reduce_loss(
            loss,
            weight=element_weight(weight, loss),
            reduction=reduction,
            avg_factor=avg_factor)


def robust_asymmetric_loss(cls_score: torch.Tensor,
                           target: torch.Tensor,
                           gamma_neg: float = 4.0,
                           gamma_pos: float = 0.0,
                           clip: Optional[float] = 0.05,
                           eps: float = 1e-8,
                           lamb: float = 1.5,
                           epsilon_pos: float = 1.0,
                           epsilon_neg: float = 0.0,
                           epsilon_pos_pow: float = -2.5,
                           detach_focusing_weight: bool = False
                           ) -> torch.Tensor:
    r"""Element-wise robust asymmetric loss, ``(N, C)``, no reduction.

    With :math:`p = \sigma(x)`, :math:`q = \min(1 - p + \mathrm{clip}, 1)`,
    :math:`p_\epsilon = \max(p, \mathrm{eps})` and
    :math:`q_\epsilon = \max(q, \mathrm{eps})`:

    .. math::

        L^+ &= -(1 - p)^{\gamma^+}\big[\log p_\epsilon
               + \epsilon^+ (1 - p_\epsilon)
               + \tfrac{\epsilon^+_{pow}}{2} (1 - p_\epsilon)^2\big] \\
        L^- &= -(1 - q)^{\gamma^-}\big[\log q_\epsilon
               + \epsilon^- q_\epsilon\big]\,
               (\lambda - p)\, p^2\, (\lambda - q) \\
        L &= y\,L^+ + (1 - y)\,L^-

    For 0/1 targets this is, element by element, the released code's
    ``Ralloss`` (``kalelpark/RAL``, ``models/get_optimizer.py``) before its
    ``-sum``.  For soft targets it is the expectation of the hard loss under
    ``y`` (see :class:`RobustAsymmetricLoss`).

    Args:
        cls_score (Tensor): ``(N, C)`` logits (float32 or float64).
        target (Tensor): ``(N, C)`` targets in ``[0, 1]``, same dtype.
        gamma_neg, gamma_pos, clip, eps, lamb, epsilon_pos, epsilon_neg,
        epsilon_pos_pow, detach_focusing_weight: see
            :class:`RobustAsymmetricLoss`.

    Returns:
        Tensor: ``(N, C)`` non-reduced losses.
    """
    p = torch.sigmoid(cls_score)
    one_minus_p = torch.sigmoid(-cls_score)  # = 1 - p, exact for large x
    if clip is not None and clip > 0:
        q = (one_minus_p + clip).clamp(max=1)
    else:
        q = one_minus_p
    p_eps = p.clamp(min=eps)
    q_eps = q.clamp(min=eps)

    # Poly-2 expansion of log p (positives) and Poly-1 of log q (negatives)
    pos = (torch.log(p_eps) + epsilon_pos * (1 - p_eps) +
           epsilon_pos_pow * 0.5 * (1 - p_eps).pow(2))
    neg = (torch.log(q_eps) + epsilon_neg * q_eps) * \
        (lamb - p) * p.pow(2) * (lamb - q)

    # asymmetric focusing: (1 - p_t) ** gamma_t with p_t = p or q
    w_pos = focusing_weight(one_minus_p, gamma_pos)
    w_neg = focusing_weight(1 - q, gamma_neg)
    if detach_focusing_weight:
        w_pos, w_neg = w_pos.detach(), w_neg.detach()
    return -(target * w_pos * pos + (1 - target) * w_neg * neg)


@MODELS.register_module()
class RobustAsymmetricLoss(AsymmetricFocusingLoss):
    r"""Robust Asymmetric Loss (RAL) for multi-label classification.

    Park, Park, Kim and Ryu, "Robust Asymmetric Loss for Multi-Label
    Long-Tailed Learning", ICCV 2023 workshops (CVAMD), arXiv 2308.05542;
    code ``github.com/kalelpark/RAL`` (class ``Ralloss``).  An asymmetric
    (ASL-style) loss whose log terms are replaced by polynomial (PolyLoss)
    expansions, with Hill-style down-weighting of negatives that have a
    high score (possible missing labels).

    **Implemented form: the released code.**  With :math:`p = \sigma(x)`,
    the shifted negative probability :math:`q = \min(1 - p + m, 1)` (ASL's
    probability margin ``m = clip``), :math:`p_\epsilon = \max(p, eps)`,
    :math:`q_\epsilon = \max(q, eps)`:

    .. math::

        L^+ &= -(1 - p)^{\gamma^+}\big[\log p_\epsilon
               + \epsilon^+ (1 - p_\epsilon)
               + \tfrac{\epsilon^+_{pow}}{2} (1 - p_\epsilon)^2\big] \\
        L^- &= -(1 - q)^{\gamma^-}\big[\log q_\epsilon
               + \epsilon^- q_\epsilon\big]\,
               (\lambda - p)\, p^2\, (\lambda - q) \\
        \ell_{ic} &= y_{ic} L^+_{ic} + (1 - y_{ic}) L^-_{ic}

    **Paper, Eq. (6)**:
    :math:`L^+ = y \sum_{m=1}^{M} \alpha_m (1 - \hat y)^{m + \gamma^+}`,
    :math:`L^- = \psi(\hat y) (1 - y) \sum_{n=1}^{N} \beta_n
    \hat y_\tau^{\,n + \gamma^-}` with :math:`\psi(\hat y) = \lambda - \hat
    y` and :math:`\hat y_\tau` the shifted probability (here
    :math:`1 - q = \max(p - m, 0)`).  Where the code (implemented) differs:

    1. Positives: the code keeps the whole log series and perturbs its
       first two coefficients.  Since :math:`-\log p = \sum_m (1 - p)^m/m`,
       :math:`L^+` is Eq. (6)'s positive term with :math:`M = \infty`,
       :math:`\alpha_1 = 1 - \epsilon^+`, :math:`\alpha_2 = (1 -
       \epsilon^+_{pow})/2`, :math:`\alpha_m = 1/m` for :math:`m \ge 3`
       (defaults: :math:`\alpha_1 = 0`, :math:`\alpha_2 = 1.75`).  Note the
       sign: ``epsilon_pos = +1`` is PolyLoss' :math:`\epsilon = -1`.
    2. Negatives: :math:`-\log q = \sum_n \hat y_\tau^n / n`, i.e.
       :math:`\beta_n = 1/n`, :math:`N = \infty`; :math:`\epsilon^-` adds
       :math:`-\epsilon^- q = -\epsilon^- + \epsilon^- \hat y_\tau` (a
       constant and a first-order term, default 0).
    3. Hill factor: Eq. (6) has :math:`\psi = \lambda - p`; the code uses
       Hill's full negative weight :math:`(\lambda - p) p^2` (Zhang et al.,
       arXiv 2112.07368) times an extra :math:`(\lambda - q)`.
    4. Reduction: the code returns ``-loss.sum()`` over all elements; here
       MMPretrain's reduction is used (below).
    5. The focusing weights are differentiated through (the code's
       ``disable_torch_grad_focal_loss=False``); ``detach_focusing_weight``
       gives the ``True`` variant.

    The code's form is implemented because it is the only runnable artifact
    behind the reported results (CXR-LT 2023), it fixes every coefficient
    (Eq. (6) leaves :math:`M, N, \alpha_m, \beta_n` unspecified) and its
    defaults are known.

    **Limiting cases.**  No setting removes the Hill factor from
    :math:`L^-`, so RAL never equals BCE on negatives: with
    ``epsilon_neg=0`` it is exactly MMPretrain's ``AsymmetricLoss`` negative
    term times :math:`(\lambda - p) p^2 (\lambda - q)`.  On positives,
    ``epsilon_pos = epsilon_pos_pow = 0`` gives ASL's positive term
    :math:`-(1 - p)^{\gamma^+} \log p`, and with ``gamma_pos=0`` binary
    cross-entropy :math:`-\log p` (up to the ``eps`` clamp).  With the
    defaults every element is >= 0; with ``epsilon_neg > 0`` the bracket
    :math:`-(\log q + \epsilon^- q)` is negative for :math:`q` near 1, so
    easy negatives get a small negative loss (as in the code).

    **Targets.**  ``(N, C)`` 0/1 or soft targets in ``[0, 1]``, or ``(N,)``
    / ``(N, 1)`` class indices (turned into one-hot rows, as MMPretrain's
    ``AsymmetricLoss`` does).  For soft targets the loss is the expectation
    of the hard loss, :math:`y L^+ + (1 - y) L^-`, each with its own
    focusing weight; the released code (and MMPretrain's ``AsymmetricLoss``)
    instead interpolates :math:`p_t` and :math:`\gamma` with ``y`` inside a
    single focusing weight.  Both agree on 0/1 targets; the expectation is
    linear in ``y``, so Mixup of two samples gives the mixture of their
    losses.

    **Reduction** (identical to MMPretrain's ``AsymmetricLoss`` and
    ``CrossEntropyLoss(use_sigmoid=True)``, so the three are comparable):
    the ``(N, C)`` element-wise loss is multiplied by ``weight`` and passed
    to ``weight_reduce_loss``.  ``MultiLabelClsHead`` passes
    ``avg_factor=N``, so the training loss is
    :math:`\frac{1}{N}\sum_i \sum_c \ell_{ic}` (mean over samples of the
    per-sample sum over classes).  Without ``avg_factor``, ``'mean'`` is the
    mean over all ``N * C`` elements (:math:`\frac{1}{NC}\sum_{ic}
    \ell_{ic}`), ``'sum'`` the sum, ``'none'`` returns ``(N, C)``.

    Computed in float32 with autocast disabled (float64 input stays
    float64).

    Args:
        gamma_neg (float): Focusing exponent :math:`\gamma^-` of negatives.
            Defaults to 4 (code).
        gamma_pos (float): Focusing exponent :math:`\gamma^+` of positives.
            Defaults to 0 (code).
        clip (float, optional): Probability margin ``m`` of negatives (ASL);
            None or 0 disables the shift. Defaults to 0.05 (code).
        eps (float): Lower clamp of :math:`p` and :math:`q` inside the log
            and polynomial terms. Defaults to 1e-8 (code).
        lamb (float): Hill's :math:`\lambda` (>= 1, so that the negative
            weight is never negative). Defaults to 1.5 (code; Hill's value).
        epsilon_pos (float): Coefficient :math:`\epsilon^+` of
            :math:`(1 - p)` in the positive term. Defaults to 1.0 (code).
        epsilon_neg (float): Coefficient :math:`\epsilon^-` of :math:`q` in
            the negative term. Defaults to 0.0 (code).
        epsilon_pos_pow (float): Coefficient :math:`\epsilon^+_{pow}` of
            :math:`(1 - p)^2 / 2` in the positive term. Defaults to -2.5
            (code's class default; its training script reads it from an
            undefined ``--pos_pow`` argument).
        detach_focusing_weight (bool): Compute the focusing weights without
            gradient (the code's ``disable_torch_grad_focal_loss``).
            Defaults to False (code).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 gamma_neg: float = 4.0,
                 gamma_pos: float = 0.0,
                 clip: Optional[float] = 0.05,
                 eps: float = 1e-8,
                 lamb: float = 1.5,
                 epsilon_pos: float = 1.0,
                 epsilon_neg: float = 0.0,
                 epsilon_pos_pow: float = -2.5,
                 detach_focusing_weight: bool = False,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(gamma_neg, gamma_pos, clip, eps,
                         detach_focusing_weight, reduction, loss_weight)
        if lamb < 1:
            raise ValueError(
                f'{type(self).__name__}: lamb must be >= 1 (the Hill weight '
                f'(lamb - p) would be negative for p > lamb), got {lamb}')
        self.lamb = float(lamb)
        self.epsilon_pos = float(epsilon_pos)
        self.epsilon_neg = float(epsilon_neg)
        self.epsilon_pos_pow = float(epsilon_pos_pow)

    def elementwise(self, logits: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        return robust_asymmetric_loss(
            logits,
            target,
            gamma_neg=self.gamma_neg,
            gamma_pos=self.gamma_pos,
            clip=self.clip,
            eps=self.eps,
            lamb=self.lamb,
            epsilon_pos=self.epsilon_pos,
            epsilon_neg=self.epsilon_neg,
            epsilon_pos_pow=self.epsilon_pos_pow,
            detach_focusing_weight=self.detach_focusing_weight)

    def extra_repr(self) -> str:
        return (f'gamma_neg={self.gamma_neg}, gamma_pos={self.gamma_pos}, '
                f'clip={self.clip}, eps={self.eps}, lamb={self.lamb}, '
                f'epsilon_pos={self.epsilon_pos}, '
                f'epsilon_neg={self.epsilon_neg}, '
                f'epsilon_pos_pow={self.epsilon_pos_pow}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')
