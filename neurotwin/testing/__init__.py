"""Contract checks every registered implementation must pass.

Run them from a plugin's own tests to show a new reader behaves like the
built-in ones.
"""

from .models import check_model
from .objectives import check_objective
from .readers import check_reader

__all__ = ["check_model", "check_objective", "check_reader"]
