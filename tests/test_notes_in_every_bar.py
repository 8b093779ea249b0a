"""NotesInEveryBarLogitsProcessor: new ideas hold back Bar/EOS while the current bar has no note."""

import torch

from cadenza_hf.generation.logits_process import NotesInEveryBarLogitsProcessor
from cadenza_hf.tokenization.grammar import Kind
from cadenza_hf.tokenization.tokenization_pertok import PerTokTokenizer


def _ids(tok):
    g = tok.grammar
    return g.ids_of[Kind.BAR][0], g.ids_of[Kind.EOS][0], g.ids_of[Kind.SHIFT][0], g.ids_of[Kind.PITCH][0]


def test_bar_and_eos_held_back_only_while_the_bar_is_empty():
    tok = PerTokTokenizer()
    bar, eos, shift, pitch = _ids(tok)
    processor = NotesInEveryBarLogitsProcessor(tok)
    rows = torch.tensor(
        [
            [tok.bos_token_id, bar, shift, shift],  # bar open, no note yet: must not close
            [tok.bos_token_id, bar, pitch, shift],  # a note in this bar: free
            [tok.bos_token_id, bar, pitch, bar],  # a new bar just opened: must not close
        ]
    )
    scores = processor(rows, torch.zeros(3, tok.vocab_size))
    assert scores[0, bar] == float("-inf") and scores[0, eos] == float("-inf") and scores[0, pitch] == 0
    assert scores[1, bar] == 0 and scores[1, eos] == 0
    assert scores[2, bar] == float("-inf")


def test_a_row_with_only_bar_left_is_left_alone():
    tok = PerTokTokenizer()
    bar, _, shift, _ = _ids(tok)
    scores = torch.full((1, tok.vocab_size), float("-inf"))
    scores[0, bar] = 1.5  # the grammar allows nothing else (the bar's time is used up)
    out = NotesInEveryBarLogitsProcessor(tok)(torch.tensor([[tok.bos_token_id, bar, shift]]), scores)
    assert out[0, bar] == 1.5  # still samplable: the output stays valid
