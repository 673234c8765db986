"""A tiny random-weight BERT with a WordPiece tokenizer trained on the fly, saved to a folder,
so :class:`models.encoders.transformers.TransformersEncoder` loads it offline through
``AutoTokenizer`` / ``AutoModel`` like a real model."""

from __future__ import annotations

from pathlib import Path

__all__ = ["TITLES", "build_tiny_bert"]

TITLES = [
    "Toy Story (1995) (Animation, Children's, Comedy)",
    "Heat (1995) (Action, Crime, Thriller)",
    "Sabrina (1995) (Comedy, Romance)",
    "Golden Eye (1995) (Action, Adventure, Thriller)",
    "The Silent River (1987) (Drama)",
    "Frozen Empire (2001) (Fantasy, Adventure)",
]


def build_tiny_bert(folder: Path, *, hidden: int = 16, seed: int = 0) -> Path:
    """Save a 2-layer BERT (``hidden`` units) and its WordPiece tokenizer under ``folder``."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=special)
    tok.train_from_iterator(TITLES * 20, trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
    )  # fmt: skip
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=64,
    )  # fmt: skip
    model = BertModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
