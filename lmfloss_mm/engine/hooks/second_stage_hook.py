"""The second stage of a two-stage (decoupled) recipe: start from the first
stage's checkpoint, check that it fits, optionally re-initialise the head."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.dist import broadcast
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import initialize, is_model_wrapper
from mmpretrain.registry import HOOKS

#: State-dict keys a second stage takes from the first stage's checkpoint:
#: the feature extractor and the classifier layer.
FIRST_STAGE_PREFIXES = ('backbone.', 'neck.', 'head.fc.')


def unwrap_model(runner) -> nn.Module:
    """``runner.model`` without its distributed wrapper."""
    return runner.model.module if is_model_wrapper(
        runner.model) else runner.model


def _strip_module_prefix(key: str) -> str:
    # MMEngine's load_checkpoint strips the same prefix (revise_keys)
    return key[len('module.'):] if key.startswith('module.') else key


@HOOKS.register_module()
class SecondStageHook(Hook):
    """Run a config as the second stage of a two-stage recipe.

    Decoupled training (Kang et al., ICLR 2020), weight balancing
    (Alshammari et al., CVPR 2022) and MiSLAS (Zhong et al., CVPR 2021)
    first train the whole network, then re-balance the classifier on the
    frozen features. The second-stage config starts from the first stage's
    best checkpoint, given as ``load_from`` (``--cfg-options
    load_from=...``). This hook

    * stops the run before the first iteration, with a message naming the
      first-stage config, when no checkpoint was loaded (neither
      ``load_from`` nor ``--resume``), so a second stage never trains from
      random or ImageNet weights by mistake;
    * checks that the checkpoint fits the model: every backbone, neck and
      classifier-layer (``head.fc``) tensor of the model must be in the
      checkpoint with the same shape, and the checkpoint's training classes
      (``meta.dataset_meta.classes``, written by MMEngine) must be this
      config's. MMEngine itself loads ``load_from`` non-strictly and only
      warns about missing or mis-shaped tensors; here a checkpoint of
      another backbone or dataset is an error. Tensors that only the
      second-stage head has (``head.scales`` of :class:`LWSClsHead`,
      ``head.tau`` of :class:`TauNormClsHead`) keep their initial values;
    * with ``reinit_head=True`` (cRT) re-initialises the head before the
      first iteration, with the head's own ``init_cfg`` (for
      ``LinearClsHead``: normal weights, std 0.01, zero bias), or with each
      layer's ``reset_parameters()`` when the head has no ``init_cfg``, and
      the result of rank 0 is broadcast to every process. A resumed run
      (iteration > 0) is not re-initialised.

    The checks run in ``before_train``, after MMEngine has loaded the
    checkpoint; a checkpoint loaded for testing (``tools/test.py``) is not
    checked.

    Args:
        first_stage (str): The first stage's config, as a path from the
            repository root (e.g. ``'configs/ham10000/resnet50_in1k-pre_
            1xb32-ce-100e_ham10000.py'``). It names what to train first in
            error messages, and tells tools that chain the two stages which
            run's best checkpoint to pass.
        reinit_head (bool): Re-initialise the head before training (cRT).
            Defaults to False (LWS, weight balancing and MiSLAS start from
            the stage-1 classifier).
    """

    priority = 'HIGH'

    def __init__(self, first_stage: str, reinit_head: bool = False):
        if not isinstance(first_stage, str) or not first_stage:
            raise ValueError('SecondStageHook: first_stage must be the path '
                             'of the first-stage config, got '
                             f'{first_stage!r}')
        self.first_stage = first_stage
        self.reinit_head = bool(reinit_head)
        #: shapes and classes of the last checkpoint loaded (None: none)
        self._loaded_shapes: Optional[Dict[str, Tuple[int, ...]]] = None
        self._loaded_classes: Optional[Sequence[str]] = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        self._loaded_shapes = {
            _strip_module_prefix(key): tuple(value.shape)
            for key, value in state.items() if hasattr(value, 'shape')
        }
        meta = checkpoint.get('meta') or {}
        classes = (meta.get('dataset_meta') or {}).get('classes')
        self._loaded_classes = tuple(classes) if classes else None

    def before_train(self, runner) -> None:
        if self._loaded_shapes is None:
            raise RuntimeError(
                'SecondStageHook: this config is the second stage of a '
                'two-stage recipe and starts from the best checkpoint of its '
                f'first stage, {self.first_stage}, but no checkpoint was '
                'loaded. Train the first stage, then pass its best '
                'checkpoint with --cfg-options load_from=work_dirs/<first-'
                'stage config name>/best_imbalanced_macro_f1_epoch_<n>.pth '
                '(or resume an interrupted second stage with --resume).')
        model = unwrap_model(runner)
        self._check_tensors(model)
        self._check_classes(runner)
        if self.reinit_head and runner.iter == 0:
            self._reinitialize(model.head)

    # -- checks ----------------------------------------------------------
    def _check_tensors(self, model: nn.Module) -> None:
        missing: List[str] = []
        mismatched: List[str] = []
        for key, value in model.state_dict().items():
            if not key.startswith(FIRST_STAGE_PREFIXES):
                continue
            shape = self._loaded_shapes.get(key)
            if shape is None:
                missing.append(key)
            elif shape != tuple(value.shape):
                mismatched.append(f'{key}: checkpoint {shape}, model '
                                  f'{tuple(value.shape)}')
        if not missing and not mismatched:
            return
        problems = []
        if missing:
            problems.append(f'{len(missing)} tensors of the model are not in '
                            f'it (first: {", ".join(missing[:3])})')
        if mismatched:
            problems.append(f'{len(mismatched)} have another shape (first: '
                            f'{"; ".join(mismatched[:3])})')
        raise ValueError(
            'SecondStageHook: the loaded checkpoint does not fit this model: '
            f'{" and ".join(problems)}. load_from must be the best checkpoint '
            f'of the first stage, {self.first_stage}, trained with the same '
            'backbone and dataset.')

    def _check_classes(self, runner) -> None:
        if self._loaded_classes is None:
            return
        dataset = runner.train_dataloader.dataset
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        if classes and tuple(classes) != self._loaded_classes:
            raise ValueError(
                'SecondStageHook: the loaded checkpoint was trained on the '
                f'classes {self._loaded_classes}, this config\'s training set '
                f'has {tuple(classes)}. load_from must be the best checkpoint '
                f'of the first stage, {self.first_stage}, on the same '
                'dataset.')

    @staticmethod
    def _reinitialize(head: nn.Module) -> None:
        init_cfg = getattr(head, 'init_cfg', None)
        if init_cfg:
            initialize(head, copy.deepcopy(init_cfg))
            how = f'init_cfg {init_cfg}'
        else:
            layers = [m for m in head.modules()
                      if m is not head and hasattr(m, 'reset_parameters')]
            for layer in layers:
                layer.reset_parameters()
            how = f'reset_parameters() of {len(layers)} layers'
        # every process starts from rank 0's draw (a no-op when not
        # distributed; the distributed wrapper broadcast the parameters only
        # when it was built)
        for tensor in head.state_dict().values():
            broadcast(tensor, src=0)
        print_log(f'SecondStageHook: the head ({type(head).__name__}) is '
                  f're-initialised ({how}) before the first iteration.',
                  logger='current')
