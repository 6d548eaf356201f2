from .hooks import *  # noqa: F401,F403
from .log_processor import CompactLogProcessor  # noqa: F401
from .loops import *  # noqa: F401,F403
