"""The character-level tokenizer shared by every organism in the zoo.

One token per character, a fixed alphabet in a fixed order (so ids never depend on data or seed),
BOS prepended to every encoded text, and four special tokens. It is a `tokenizers` WordLevel model
wrapped as `transformers.PreTrainedTokenizerFast`, so it saves and loads in Hugging Face format
offline and works wherever a hub tokenizer would.

    >>> tok = zoo_tokenizer()
    >>> tok("Q:1+2\\nA:").input_ids[:3]          # BOS, 'Q', ':'
    [1, 56, 71]
    >>> tok.save_pretrained("out/tok")            # doctest: +SKIP
"""

from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from interp.errors import InterpError

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
# Fixed order: never sort or derive from data, the ids are part of every saved organism.
ALPHABET = (
    string.digits + string.ascii_lowercase + string.ascii_uppercase + " \n.,;:!?#+-*=()<>_/'\"@"
)
VOCAB: dict[str, int] = {tok: i for i, tok in enumerate((*SPECIALS, *ALPHABET))}


def zoo_tokenizer() -> PreTrainedTokenizerFast:
    """A fresh copy of the zoo tokenizer; unknown characters map to <unk>."""
    tok = Tokenizer(models.WordLevel(dict(VOCAB), unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")  # every character its own token
    tok.decoder = decoders.Fuse()  # join characters back without spaces between them
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, VOCAB[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",  # generation reads position -1 as the last prompt token
        model_max_length=512,
    )


def encode(text: str) -> list[int]:
    """Ids of `text` without BOS: the same ids the tokenizer gives, without its per-call overhead.

    Training encodes hundreds of thousands of short strings; a dict lookup per character is enough.
    """
    try:
        return [VOCAB[c] for c in text]
    except KeyError as err:
        raise InterpError(
            f"character {err.args[0]!r} is not in the zoo alphabet",
            fix="use only digits, ASCII letters and the punctuation in ALPHABET",
        ) from None
