"""Second opinions: independent VLMs watch every annotated node's span cold and answer the
stage-3 schema, stored as `nodes.annotations.<source>` (qwen3vl, molmo2, ...)."""
