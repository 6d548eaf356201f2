from .checkpoint import load_from_local_trusted

__all__ = ['load_from_local_trusted']
