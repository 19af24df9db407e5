"""A tiny random-weight Molmo2 checkpoint (config, weights, processor), built offline,
so tests run the real Molmo2 code: a character-level tokenizer with Molmo2's image and
frame tokens, the real Molmo2 image/video processors, two-layer ViT, adapter and LM."""

from __future__ import annotations

from pathlib import Path

from actionlens.testing.tiny import char_tokenizer, save_checkpoint

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|image|>",
    "<|video|>",
    "<im_patch>",
    "<im_col>",
    "<im_start>",
    "<low_res_im_start>",
    "<frame_start>",
    "<im_end>",
    "<frame_end>",
    "<im_low>",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|image|>{% elif c['type'] == 'video' %}<|video|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def save_tiny_molmo2(path: Path, seed: int = 0) -> Path:
    """Write a random-weight Molmo2ForConditionalGeneration checkpoint to `path`."""
    from transformers import Molmo2Config, Molmo2ForConditionalGeneration, Molmo2Processor
    from transformers.models.molmo2.image_processing_molmo2 import Molmo2ImageProcessor
    from transformers.models.molmo2.video_processing_molmo2 import Molmo2VideoProcessor

    tokenizer = char_tokenizer(
        SPECIAL_TOKENS,
        bos_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<|image|>", "video_token": "<|video|>"},
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    size = {"height": 56, "width": 56}  # 4x4 patches of 14 px
    processor = Molmo2Processor(
        # margins of one patch a side: the default four would leave a 4-patch crop no window
        image_processor=Molmo2ImageProcessor(size=size, max_crops=2, overlap_margins=[1, 1]),
        video_processor=Molmo2VideoProcessor(size=size, num_frames=32),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    heads = {"num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 16}
    config = Molmo2Config(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            **heads,
            "image_size": [56, 56],
            "patch_size": 14,
        },
        adapter_config={
            "vision_feature_layer": [-1, -2],
            "hidden_size": 32,
            **heads,
            "intermediate_size": 64,
            "text_hidden_size": 64,
        },
        text_config={
            "hidden_size": 64,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "vocab_size": len(tokenizer),
            "additional_vocab_size": 4,
            "num_hidden_layers": 2,
            "intermediate_size": 128,
            "max_position_embeddings": 8192,
        },
        image_start_token_id=ids["<im_start>"],
        low_res_image_start_token_id=ids["<low_res_im_start>"],
        image_end_token_id=ids["<im_end>"],
        image_patch_id=ids["<im_patch>"],
        frame_start_token_id=ids["<frame_start>"],
        frame_end_token_id=ids["<frame_end>"],
    )
    return save_checkpoint(
        lambda: Molmo2ForConditionalGeneration(config), processor, ids, path, seed
    )
