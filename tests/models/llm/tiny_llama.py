"""A tiny random-weight Llama and a tokenizer trained on the fly, saved to a folder.

``from_pretrained(folder)`` then works offline, so the transformers backend can be tested on a
CPU in seconds without downloading anything. The tokenizer is a byte-level BPE (every string
encodes, no unknown tokens) trained on a few hundred generated sentences with digits, brackets
and titles, like the reranking prompts; the chat template is a small Llama-3-like one.

Used by ``tests/models/llm/test_transformers.py`` and ``bench/bench_llm_gpu.py --tiny``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CHAT_TEMPLATE",
    "NO_SYSTEM_TEMPLATE",
    "build_tiny_llama",
    "build_tokenizer",
    "training_sentences",
]

BOS, EOS = "<|begin|>", "<|end|>"

#: system + user + assistant turns; ``add_generation_prompt`` opens the assistant turn
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

#: a template that rejects a system role, as Gemma's does
NO_SYSTEM_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}"
    "{% endif %}"
    "<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_ADJ = ("Silent", "Neon", "Golden", "Broken", "Hidden", "Last", "Red", "Frozen", "Wild", "Dark")
_NOUN = ("Harbor", "Heist", "River", "Empire", "Garden", "Signal", "Road", "Crown", "Storm")


def training_sentences(n: int = 400) -> list[str]:
    """Deterministic sentences shaped like reranking prompts and answers."""
    out = []
    for i in range(n):
        a, b = _ADJ[i % len(_ADJ)], _NOUN[(i * 7) % len(_NOUN)]
        year = 1950 + (i * 13) % 70
        out.append(f"[{i % 20}] The {a} {b} ({year}) rated {1 + i % 5}/5")
        out.append(f"Rank these {i % 30} candidates: [{i}] {a} {b} {i % 4 or ''}".strip())
        out.append(f"Answer: [{(i * 3) % 20}, {(i * 5) % 20}, {(i * 11) % 20}] name nothing else.")
    return out


def build_tokenizer(
    vocab_size: int = 400,
    chat_template: str = CHAT_TEMPLATE,
    texts: list[str] | None = None,
):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with BOS/EOS and a chat template.

    Args:
        vocab_size: target vocabulary (256 bytes + 2 special tokens + merges).
        chat_template: Jinja chat template.
        texts: training corpus; :func:`training_sentences` when None.

    No pad token is set (the backend must fall back to EOS).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts or training_sentences(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS)
    fast.chat_template = chat_template
    return fast


def build_tiny_llama(
    folder: str | Path,
    *,
    chat_template: str = CHAT_TEMPLATE,
    hidden_size: int = 48,
    num_layers: int = 2,
    seed: int = 0,
) -> Path:
    """Save a random-weight 2-layer Llama and its tokenizer to ``folder``; returns the folder.

    Args:
        folder: created if missing.
        chat_template: the tokenizer's chat template.
        hidden_size: model width (heads of 12 dims: 4 query heads, 2 key/value heads at 48).
        num_layers: decoder layers.
        seed: torch seed of the random weights.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(chat_template=chat_template)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # random init at std 0.02 gives near-uniform next-token distributions; widen the output
    # layer so greedy decoding has clear winners (no near-ties that flip under padding)
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, 1.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
