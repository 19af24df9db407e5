"""Second opinions: independent VLMs watch every annotated node's span cold and answer the
stage-3 schema, stored as `nodes.annotations.<source>` (qwen3vl, molmo2, ...).

Which models run is configuration (`opinions.sources`); adding one is adding an entry,
or a backend class with `@register` (actionlens.models). Production, e.g. in the YAML
file named by ACTIONLENS_CONFIG:

    opinions:
      sources:
        - {source: qwen3vl, backend: transformers, model_id: Qwen/Qwen3-VL-8B-Instruct}
        - {source: molmo2, backend: transformers-auto, model_id: allenai/Molmo2-8B}
        # or through a vLLM server: {source: molmo2, backend: openai, model_id: allenai/Molmo2-8B,
        #                            endpoint: http://vllm-molmo2:8000/v1}
      lenses:
        - {lens: transcript, backend: sentence, model_id: all-MiniLM-L6-v2}
        - {lens: qwen3vl_embedding, backend: qwen3vl-embedding, model_id: Qwen/Qwen3-VL-Embedding-2B}
        - {lens: molmo2, backend: mean-pooled, model_id: allenai/Molmo2-4B}
      category_lens: qwen3vl_embedding

Weights are read from `weights` or `models.weights_dir/<model_id>`, never downloaded.
The defaults are CPU baselines (`opinion-frames`, `opinion-transcript`, the MiniLM
transcript lens and the `frame-histogram` visual lens), named as baselines in what they
store.
"""
