from .tau_norm_sweep_loop import DEFAULT_TAUS, TauNormSweepLoop

__all__ = ['DEFAULT_TAUS', 'TauNormSweepLoop']
