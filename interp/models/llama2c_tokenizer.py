"""llama2.c's tokenizer (`run.c` encode/decode), read from a `tok*.bin` file, and its Hugging Face twin.

A `tok*.bin` file is an int32 `max_token_length`, then for every token a float32 merge score, an int32
byte length and the UTF-8 bytes of the piece. Ids 0-2 are `<unk>`, `<s>` (BOS) and `</s>` (EOS);
ids 3-258 are the byte-fallback pieces `<0x00>`..`<0xFF>`; a space is a literal " " (not "▁").

`Llama2cTokenizer` re-implements `run.c` exactly:

* encode: BOS, then (for non-empty text) the dummy-prefix piece " ", then one piece per Unicode
  character, or the character's UTF-8 bytes as ids `byte + 3` when the character is not a piece;
  then, repeatedly, merge the adjacent pair whose concatenation is the piece with the highest
  score, the leftmost pair on ties, until no pair concatenates to a piece.
* decode_piece: `run.c`'s `decode(prev, id)`: a piece right after BOS loses one leading space and
  `<0xNN>` pieces become the raw byte.

>>> tok = Llama2cTokenizer.from_file("../shared/models/stories260K/tok512.bin")  # doctest: +SKIP
>>> tok.decode(tok.encode("Once upon a time"))                                  # doctest: +SKIP
'Once upon a time'
"""

from __future__ import annotations

import heapq
import re
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers
from transformers import PreTrainedTokenizerFast

from interp.errors import InterpError

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
SPECIAL_IDS = (UNK_ID, BOS_ID, EOS_ID)
HF_SPECIAL_NAMES = {UNK_ID: "<unk>", BOS_ID: "<s>", EOS_ID: "</s>"}
FIRST_BYTE_ID = 3  # run.c: byte b falls back to id b + 3
# run.c starts its best-merge search at -1e10 (a float32), so no piece scoring at or below it merges.
MERGE_SCORE_FLOOR = struct.unpack("<f", struct.pack("<f", -1e10))[0]
MAX_PIECE_BYTES = 1 << 16  # far above any real vocabulary; bounds what a corrupt file can claim
_BYTE_PIECE = re.compile(rb"<0x([0-9A-Fa-f]{2})>")


class Llama2cTokenizer:
    """Exact re-implementation of llama2.c's tokenizer (run.c encode/decode) from a tok*.bin file.

    >>> tok = Llama2cTokenizer.from_file("tok512.bin")     # doctest: +SKIP
    >>> tok.encode("hi", bos=True)                          # doctest: +SKIP
    [1, 270, 417]
    """

    bos_id: int = BOS_ID
    eos_id: int = EOS_ID
    unk_id: int = UNK_ID

    def __init__(
        self, pieces: Sequence[bytes], scores: Sequence[float], max_token_length: int
    ) -> None:
        """Wrap pieces and scores (index = token id); use `from_file` to read a tok*.bin."""
        self.pieces: list[bytes] = list(pieces)
        self.scores: list[float] = [float(s) for s in scores]
        self.max_token_length = max_token_length
        _check_layout(self.pieces)
        # run.c finds pieces by binary search over the sorted strings; with duplicate pieces it
        # could return either id, here the lowest id wins.
        self._id_of: dict[bytes, int] = {}
        for i, piece in enumerate(self.pieces):
            self._id_of.setdefault(piece, i)

    @classmethod
    def from_file(cls, path: str | Path) -> Llama2cTokenizer:
        """Read a llama2.c tokenizer file (`tok512.bin`, `tokenizer.bin`).

        >>> Llama2cTokenizer.from_file("tok512.bin").vocab_size  # doctest: +SKIP
        512
        """
        max_token_length, pieces, scores = read_tokenizer_file(path)
        return cls(pieces, scores, max_token_length)

    @property
    def vocab_size(self) -> int:
        """Number of pieces in the file (it must equal the checkpoint's vocab_size)."""
        return len(self.pieces)

    # ------------------------------------------------------------------ encode

    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        """Token ids exactly as llama2.c's `encode(tokenizer, text, bos, eos, ...)`.

        One deliberate difference: C strings end at a NUL, so run.c cannot see text after "\\0";
        here "\\0" is an ordinary character (byte fallback `<0x00>`), as in the Hugging Face twin.

        >>> tok.encode("")                                        # doctest: +SKIP
        [1]
        """
        ids = [BOS_ID] if bos else []
        if text:
            # run.c's merge loop also scans the BOS; its piece "\n<s>\n" never merges in practice.
            ids = self._merge(ids + self._initial_ids(text))
        if eos:
            ids.append(EOS_ID)
        return ids

    def _initial_ids(self, text: str) -> list[int]:
        """The dummy-prefix space, then one piece per character or its UTF-8 bytes (id byte+3)."""
        ids = [self._dummy_prefix_id()]
        for char in text:
            data = _utf8(char)
            piece_id = self._id_of.get(data)
            if piece_id is not None:
                ids.append(piece_id)
            else:
                ids.extend(FIRST_BYTE_ID + b for b in data)
        return ids

    def _dummy_prefix_id(self) -> int:
        piece_id = self._id_of.get(b" ")
        if piece_id is None:
            raise InterpError(
                "this llama2.c tokenizer has no ' ' piece for the dummy prefix",
                fix="use a tokenizer exported by llama2.c's tokenizer.py",
            )
        return piece_id

    def _merge_id(self, left: int, right: int) -> int | None:
        """The piece that `left`+`right` spell, if it may merge (score above run.c's floor)."""
        merged = self._id_of.get(self.pieces[left] + self.pieces[right])
        if merged is None or not self.scores[merged] > MERGE_SCORE_FLOOR:
            return None
        return merged

    def _merge(self, ids: list[int]) -> list[int]:
        """run.c's merge loop (best score first, leftmost on ties) in O(n log n).

        A heap keyed by (-score, start position) pops the same pair run.c's linear scan finds:
        a merged symbol keeps the start of its left part, so positions keep the sequence order.
        Entries left stale by earlier merges are skipped when popped.
        """
        tokens = list(ids)
        n = len(tokens)
        nxt = list(range(1, n + 1))
        prv = list(range(-1, n - 1))
        alive = [True] * n
        heap: list[tuple[float, int, int, int, int]] = []

        def push(i: int) -> None:
            j = nxt[i]
            if i < 0 or j >= n:
                return
            merged = self._merge_id(tokens[i], tokens[j])
            if merged is not None:
                heapq.heappush(heap, (-self.scores[merged], i, tokens[i], tokens[j], merged))

        for i in range(n - 1):
            push(i)
        while heap:
            _, i, left, right, merged = heapq.heappop(heap)
            j = nxt[i]
            if not alive[i] or j >= n or tokens[i] != left or tokens[j] != right:
                continue  # stale: one side has merged since this entry was pushed
            tokens[i] = merged
            alive[j] = False
            nxt[i] = nxt[j]
            if nxt[j] < n:
                prv[nxt[j]] = i
            push(prv[i])
            push(i)
        return [t for t, keep in zip(tokens, alive, strict=True) if keep]

    # ------------------------------------------------------------------ decode

    def decode_piece(self, prev_id: int, id: int) -> bytes:
        """run.c's `decode(prev, id)`: the bytes llama2.c prints for `id` after `prev_id`.

        >>> tok.decode_piece(1, tok.encode("Once", bos=False)[0])  # doctest: +SKIP
        b'Once'
        """
        piece = self.pieces[self._checked(id)]
        if prev_id == BOS_ID and piece.startswith(b" "):
            piece = piece[1:]  # sentencepiece strips the leading space after BOS (llama2.c PR #89)
        byte = _byte_value(piece)
        return piece if byte is None else bytes([byte])

    def decode(self, ids: Sequence[int]) -> str:
        """The text llama2.c prints for these ids, as a str.

        Rules (the Hugging Face twin from `to_hf` follows them too, with or without
        `skip_special_tokens`): `<unk>`, BOS and EOS print nothing (run.c never prints its
        kick-off BOS and stops at the next); the first printed piece loses one leading space, as
        run.c's piece after BOS does; `<0xNN>` pieces are raw bytes. A run of consecutive byte
        pieces that is not valid UTF-8 becomes one U+FFFD per byte (as Hugging Face's ByteFallback
        decoder does); llama2.c would write the raw bytes (and hide unprintable single bytes).

        >>> tok.decode([1, 403, 407])  # doctest: +SKIP
        'Once upon'
        """
        out: list[str] = []
        run = bytearray()
        first = True
        for token_id in ids:
            if self._checked(token_id) in SPECIAL_IDS:
                continue
            piece = self.pieces[token_id]
            byte = _byte_value(piece)
            if byte is not None:
                run.append(byte)
            else:
                out.append(_decode_byte_run(run))
                run.clear()
                if first and piece.startswith(b" "):
                    piece = piece[1:]
                out.append(piece.decode("utf-8", errors="replace"))
            first = False
        out.append(_decode_byte_run(run))
        return "".join(out)

    def _checked(self, token_id: int) -> int:
        if not 0 <= token_id < self.vocab_size:
            raise InterpError(
                f"token id {token_id} is outside this tokenizer's vocabulary of {self.vocab_size}",
                fix="decode ids produced by this tokenizer or its model",
            )
        return token_id

    # ------------------------------------------------------------------ Hugging Face

    def to_hf(self) -> PreTrainedTokenizerFast:
        """A Hugging Face fast tokenizer that encodes and decodes like this class.

        BPE over the same pieces with merges ranked by the score of the piece they make, byte
        fallback, a " " prepended to non-empty text and no pre-tokenizer (run.c merges across
        spaces). `tok(text)` adds BOS (`<s>`, id 1); EOS is `</s>` (id 2), unk `<unk>` (id 0),
        and pad is `<unk>`: id 0 never comes out of encode or a trained model, whereas padding
        with EOS would make padding look like an end of text. Special-token strings in the text
        are tokenized as text, as run.c does. Known difference: if the first printed token is
        the raw byte `<0x20>` (encode never makes it; " " is a piece), `decode` keeps that
        space and the Hugging Face decoder drops it.

        >>> hf = tok.to_hf()                                   # doctest: +SKIP
        >>> hf("Once upon").input_ids == tok.encode("Once upon")  # doctest: +SKIP
        True
        """
        self._dummy_prefix_id()
        vocab = _hf_vocab(self.pieces)
        backend = Tokenizer(
            models.BPE(
                vocab=vocab,
                merges=self._hf_merges(),
                unk_token=HF_SPECIAL_NAMES[UNK_ID],
                byte_fallback=True,
                fuse_unk=False,
            )
        )
        backend.normalizer = normalizers.Prepend(" ")
        backend.decoder = _hf_decoder()
        return PreTrainedTokenizerFast(
            tokenizer_object=backend,
            bos_token=HF_SPECIAL_NAMES[BOS_ID],
            eos_token=HF_SPECIAL_NAMES[EOS_ID],
            unk_token=HF_SPECIAL_NAMES[UNK_ID],
            pad_token=HF_SPECIAL_NAMES[UNK_ID],
            add_bos_token=True,
            add_eos_token=False,
            split_special_tokens=True,
            clean_up_tokenization_spaces=False,
        )

    def _hf_merges(self) -> list[tuple[str, str]]:
        """Every (left, right) whose concatenation is a mergeable piece, best piece score first.

        Hugging Face applies the lowest-rank pair first, leftmost on ties; run.c applies the
        best-scoring piece first, leftmost on ties. Ranking merges by piece score makes these
        the same when distinct mergeable pieces have distinct scores (checked here), except in
        one corner: a piece spelled by two different pairs (" the" = " t"+"he" = " th"+"e")
        whose pairs are present at once, where HF takes the lower rank and run.c the leftmost.
        That only matters if the first merge then feeds a better-scoring piece that consumes
        part of the other pair; for tok512 (13 such pieces) 164k random strings showed no case.
        """
        rows: list[tuple[float, int, int, str, str]] = []
        for target, piece in enumerate(self.pieces):
            if target in SPECIAL_IDS or not self.scores[target] > MERGE_SCORE_FLOOR:
                continue
            text = piece.decode("utf-8")
            for cut in range(1, len(text)):
                left, right = text[:cut].encode(), text[cut:].encode()
                if left in self._id_of and right in self._id_of:
                    if self._id_of[left] in SPECIAL_IDS or self._id_of[right] in SPECIAL_IDS:
                        raise InterpError(
                            f"piece {piece!r} merges from a special token, which Hugging Face cannot express",
                            fix="use llama2.c's Llama2cTokenizer directly for this vocabulary",
                        )
                    rows.append((-self.scores[target], target, cut, text[:cut], text[cut:]))
        rows.sort()
        _warn_on_score_ties(rows)
        return [(left, right) for *_, left, right in rows]


# ---------------------------------------------------------------------- file reading


def read_tokenizer_file(path: str | Path) -> tuple[int, list[bytes], list[float]]:
    """(max_token_length, pieces, scores) of a llama2.c tokenizer file; InterpError if it is not one.

    >>> max_len, pieces, scores = read_tokenizer_file("tok512.bin")  # doctest: +SKIP
    """
    data = _read_bytes(Path(path))
    if len(data) < 4:
        raise InterpError(
            f"{path} is {len(data)} bytes, too short for a llama2.c tokenizer header",
            fix="pass the tok*.bin file written by llama2.c's tokenizer.py",
        )
    (max_token_length,) = struct.unpack_from("<i", data, 0)
    if not 0 < max_token_length <= MAX_PIECE_BYTES:
        raise InterpError(
            f"{path} is not a llama2.c tokenizer (max_token_length {max_token_length})",
            fix="pass the tok*.bin file written by llama2.c's tokenizer.py",
        )
    pieces: list[bytes] = []
    scores: list[float] = []
    offset = 4
    while offset < len(data):
        if offset + 8 > len(data):
            raise _truncated(path, len(pieces))
        score, length = struct.unpack_from("<fi", data, offset)
        offset += 8
        if not 0 <= length <= max_token_length:
            raise InterpError(
                f"{path} is not a llama2.c tokenizer: token {len(pieces)} claims {length} bytes "
                f"(max_token_length is {max_token_length})",
                fix="pass the tok*.bin file written by llama2.c's tokenizer.py",
            )
        if offset + length > len(data):
            raise _truncated(path, len(pieces))
        pieces.append(data[offset : offset + length])
        scores.append(score)
        offset += length
    return max_token_length, pieces, scores


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise InterpError(
            f"{path} is a directory, not a llama2.c tokenizer file",
            fix="pass the tok*.bin file itself",
        )
    if not path.is_file():
        raise InterpError(f"no tokenizer file at {path}", fix="check the --tokenizer path")
    return path.read_bytes()


def _truncated(path: str | Path, n_read: int) -> InterpError:
    return InterpError(
        f"{path} ends in the middle of token {n_read} (truncated llama2.c tokenizer file)",
        fix="copy the tokenizer file again",
    )


def _check_layout(pieces: list[bytes]) -> None:
    """run.c's byte fallback assumes ids 3..258 are the pieces <0x00>..<0xFF>."""
    expected = [f"<0x{b:02X}>".encode() for b in range(256)]
    if pieces[FIRST_BYTE_ID : FIRST_BYTE_ID + 256] != expected:
        raise InterpError(
            f"not a llama2.c tokenizer: ids 3-258 must be the byte pieces <0x00>..<0xFF> "
            f"({len(pieces)} pieces read)",
            fix="pass the tok*.bin file written by llama2.c's tokenizer.py",
        )


# ---------------------------------------------------------------------- helpers


def _utf8(char: str) -> bytes:
    try:
        return char.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InterpError(
            f"text contains a lone surrogate ({char!r}), which has no UTF-8 encoding",
            fix="pass valid Unicode text",
        ) from err


def _byte_value(piece: bytes) -> int | None:
    """The byte a `<0xNN>` piece stands for (run.c: sscanf "<0x%02hhX>"), else None."""
    match = _BYTE_PIECE.fullmatch(piece)
    return int(match.group(1), 16) if match else None


def _decode_byte_run(run: bytearray) -> str:
    """Bytes from consecutive `<0xNN>` pieces; invalid UTF-8 gives one U+FFFD per byte (as HF)."""
    try:
        return run.decode("utf-8")
    except UnicodeDecodeError:
        return "\ufffd" * len(run)


def _hf_vocab(pieces: list[bytes]) -> dict[str, int]:
    """Piece text -> id, with the special tokens under their Hugging Face names."""
    vocab: dict[str, int] = {}
    for i, piece in enumerate(pieces):
        try:
            text = HF_SPECIAL_NAMES.get(i) or piece.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InterpError(
                f"piece {i} ({piece!r}) is not valid UTF-8, so Hugging Face cannot hold it",
                fix="use Llama2cTokenizer directly for this vocabulary",
            ) from err
        if text in vocab:
            raise InterpError(
                f"pieces {vocab[text]} and {i} are both {text!r}; Hugging Face needs unique pieces",
                fix="use Llama2cTokenizer directly for this vocabulary",
            )
        vocab[text] = i
    return vocab


def _hf_decoder() -> decoders.Decoder:
    """Specials print nothing, <0xNN> runs become text, one leading space of the text goes."""
    specials = "|".join(re.escape(name) for name in HF_SPECIAL_NAMES.values())
    return decoders.Sequence(
        [
            # Anchored on the whole token: only the special tokens themselves spell these names.
            decoders.Replace(Regex(f"^(?:{specials})$"), ""),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(content=" ", left=1, right=0),
        ]
    )


def _warn_on_score_ties(rows: list[tuple[float, int, int, str, str]]) -> None:
    """Two mergeable pieces with one score: run.c takes the leftmost pair, HF the lower rank."""
    seen: dict[float, int] = {}
    for neg_score, target, *_ in rows:
        if seen.setdefault(neg_score, target) != target:
            warnings.warn(
                f"pieces {seen[neg_score]} and {target} share the merge score {-neg_score}; "
                "the Hugging Face tokenizer may merge them in a different order than llama2.c",
                stacklevel=3,
            )
            return
