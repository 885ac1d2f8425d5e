"""Sentence observations: each state as a short English sentence from templates, with synonyms, word order and
filler words drawn fresh per sample, tokenised by a fixed word vocabulary.

States are products of factors as in worlds.render (shape, colour, texture, position; C order), with the same
`drop` (a sentence that never names the dropped factor: lossy, DropFactor's merge). `sentences(states, seed, start)`
gives the strings, `sample(states, seed, start)` their token ids (B, length), 0-padded; sample j is a pure function
of (state, seed, start + j).
"""
from __future__ import annotations

import numpy as np

from .observations import register_observation
from .render import Factored

WORDS = (  # synonyms per factor value, in the order of worlds.render's SHAPES, PALETTE, TEXTURES, CORNERS
    (("square", "box"), ("circle", "disc"), ("triangle", "wedge"), ("cross", "plus"), ("diamond", "rhombus"),
     ("ring", "hoop")),
    (("red", "crimson"), ("green", "emerald"), ("blue", "navy"), ("yellow", "golden"), ("magenta", "purple"),
     ("cyan", "teal"), ("orange", "amber"), ("white", "pale")),
    (("plain", "solid"), ("striped", "banded"), ("checked", "chequered")),
    (("top left", "upper left"), ("top right", "upper right"), ("bottom left", "lower left"),
     ("bottom right", "lower right")),
)
NOUNS = ("shape", "thing")  # when the shape is not named
FILLERS = ("", "i see", "there is", "look ,", "here is", "we have")
ARTICLES = ("a", "the", "one")
PREPOSITIONS = ("in the", "at the")
PAD = "<pad>"


@register_observation("sentence")
class SentenceObservation(Factored):
    """States as sentences such as 'look , a striped red box at the upper left' or 'in the top left there is a
    square that is crimson'. `.vocab` lists the words (index 0 is PAD), `.length` the longest sentence in tokens."""

    def __init__(self, factor_sizes=(4, 4), drop: int | None = None):
        super().__init__(factor_sizes, drop, tuple(len(w) for w in WORDS), "SentenceObservation")
        named = {i for i in range(len(self.factor_sizes)) if i != self.drop}
        self.named = sorted(named)
        words = {w for i in named for syn in WORDS[i] for phrase in syn for w in phrase.split()}
        words |= {w for phrase in (*NOUNS, *FILLERS, *ARTICLES, *PREPOSITIONS) for w in phrase.split()}
        words |= {"that", "is", "and"}
        self.vocab = [PAD, *sorted(words)]
        self._ids = {w: i for i, w in enumerate(self.vocab)}
        # the longest: filler (2) + article + 2 adjectives + noun + "that is" + "and" + "in the top left" (4)
        self.length = 2 + 1 + 2 + 1 + 2 + 1 + 4

    def sentences(self, states, seed: int = 0, start: int = 0) -> list[str]:
        """One sentence per state (B,); sample j drawn from the key (seed, start + j)."""
        owner = "SentenceObservation.sentences"
        z = self._states(states, owner)
        return [self._sentence(self.factors[s], r) for s, r in zip(z, self._rngs(seed, start, z.size, owner))]

    def sample(self, states, seed: int = 0, start: int = 0) -> np.ndarray:
        """Token ids (B, length) int64 of the sentences of `states`, 0-padded at the end."""
        out = np.zeros((np.size(states), self.length), dtype=np.int64)
        for row, text in zip(out, self.sentences(states, seed, start)):
            ids = [self._ids[w] for w in text.split()]
            row[:len(ids)] = ids
        return out

    def _sentence(self, f: np.ndarray, r: np.random.Generator) -> str:
        """Adjectives (colour, texture) in random order, some of them moved to a 'that is X and Y' clause; the
        position phrase first or last; a filler, an article and a synonym for every word."""
        pick = lambda options: options[r.integers(len(options))]
        said = {i: pick(WORDS[i][f[i]]) for i in self.named}
        noun = said.pop(0) if 0 in said else pick(NOUNS)
        where = f"{pick(PREPOSITIONS)} {said.pop(3)}" if 3 in said else ""
        adjectives = [said[i] for i in sorted(said)]
        r.shuffle(adjectives)
        cut = r.integers(len(adjectives) + 1)  # adjectives[cut:] go after the noun
        phrase = " ".join([pick(ARTICLES), *adjectives[:cut], noun])
        if cut < len(adjectives):
            phrase += " that is " + " and ".join(adjectives[cut:])
        filler = pick(FILLERS)
        parts = [where, filler, phrase] if where and r.random() < 0.5 else [filler, phrase, where]
        return " ".join(p for p in parts if p)
