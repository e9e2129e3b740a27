"""Backtest results as stored: metrics as JSON, the curve and the trades as compressed columns.

``encode_result`` turns an engine result into what a completion stores;
``result_builtins`` turns what is stored (either form: the JSON columns of
older rows, or the compact columns) back into the JSON-ready lists clients get.
"""

from backtest_shared.results.codec import ResultFormatError
from backtest_shared.results.codec import decode_columns
from backtest_shared.results.codec import encode_columns
from backtest_shared.results.columns import ResultColumns
from backtest_shared.results.stored import EncodedResult
from backtest_shared.results.stored import encode_result
from backtest_shared.results.stored import result_builtins

__all__ = [
    "EncodedResult",
    "ResultColumns",
    "ResultFormatError",
    "decode_columns",
    "encode_columns",
    "encode_result",
    "result_builtins",
]
