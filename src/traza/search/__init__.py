"""The search grammar (filters and order_by) and page tokens, independent of any store."""

from traza.search.grammar import (
    Comparison,
    OrderBy,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from traza.search.pages import decode_page_token, encode_page_token

__all__ = [
    "Comparison",
    "OrderBy",
    "decode_page_token",
    "encode_page_token",
    "parse_experiment_filter",
    "parse_experiment_order_by",
    "parse_run_filter",
    "parse_run_order_by",
]
