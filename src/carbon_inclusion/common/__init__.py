"""Mechanisms every domain shares, each written once: the clock, keyset pagination,
idempotency, advisory lock keys, programme-time periods, msgspec and integrity-error
translation.

Nothing here imports Litestar, a domain or the web layer, so services and routes can both
use it (the import-graph test holds it to that).
"""
