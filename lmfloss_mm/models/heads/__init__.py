from .cosine_cls_head import CosineClsHead
from .lws_cls_head import LWSClsHead
from .tau_norm_cls_head import TauNormClsHead

__all__ = ['CosineClsHead', 'LWSClsHead', 'TauNormClsHead']
