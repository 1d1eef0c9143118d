"""The search room: queries over the index, fused across routes, with explanations."""

from .engine import SearchEngine
from .query import Answer, Hit, Query, Reading, RouteMatch

__all__ = ["Answer", "Hit", "Query", "Reading", "RouteMatch", "SearchEngine"]
