"""The search room: queries over the index, fused across routes, with explanations."""

from .engine import SearchEngine
from .query import Hit, Query, RouteMatch

__all__ = ["SearchEngine", "Query", "Hit", "RouteMatch"]
