"""Test support shipped with the package: generated inputs, tiny checkpoints and a loopback
server. The tests, the demo and the benchmarks use them; no stage package may
(tests/core/test_package.py).

- `media`: generated clips with known scene changes, a HowTo100M-shaped source.
- `action100m`: Action100M-shaped records and parquet files.
- `trees`: stage-1-shaped trees (`nodes` documents).
- `tiny`, `tiny_molmo2`: tiny random-weight Qwen3-VL and Molmo2 checkpoints, built offline.
- `loopback`: an OpenAI-compatible chat-completions server on 127.0.0.1.
- `stores`: throwaway settings (own database, bucket, warehouse) and DuckDB reads.
"""
