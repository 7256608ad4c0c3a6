"""The demo model's tokenizer: a word-level Hugging Face `tokenizers` tokenizer.

The engine reads the same ``tokenizer.json`` with the Rust `tokenizers` crate, so Python
training and Rust inference see identical ids.

The model knows 21 words. Its normalizer (regex replacements, saved in ``tokenizer.json`` and
applied by the engine too) rewrites the ways people phrase the same scene into those words, so
"A red ball moves to the left." reads as "a red circle moving left". Prompts the world's own
grammar writes are left as they are: training sees the ids it always saw. Words the rules do not
cover stay unknown; the package's manifest tells the engine to drop them (``unknown_words``:
"drop") and kino names them in a warning.
"""
from __future__ import annotations

import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

from .world import COLOUR_NAMES, MAX_TOKENS, SHAPES, SPECIAL, WORDS

PAD_ID = 0
UNK_ID = SPECIAL.index("[UNK]")


def _any(words) -> str:
    """A regex alternation of whole phrases, longest first (so "sits still" wins over "sits")."""
    return r"\b(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")\b"


MOTION_VERBS = [
    "moving", "moves", "move", "going", "goes", "go", "travelling", "traveling", "travels", "travel",
    "sliding", "slides", "slide", "drifting", "drifts", "drift", "heading", "heads", "floating", "floats",
    "float", "gliding", "glides", "glide", "rolling", "rolls", "roll", "running", "runs", "flying", "flies",
    "fly", "shifting", "shifts", "scrolling", "scrolls", "crawling", "crawls", "walking", "walks", "speeding",
    "racing", "races", "zooming", "zooms", "sailing", "sails", "coasting", "passing", "passes", "sweeping",
    "sweeps", "making its way", "makes its way",
]
STILL = [
    "standing still", "stands still", "staying still", "stays still", "sitting still", "sits still",
    "keeping still", "keeps still", "holding still", "holds still", "remaining still", "remains still",
    "resting", "rests", "at rest", "not moving", "is not moving", "does not move", "do not move",
    "not in motion", "without moving", "stationary", "static", "motionless", "immobile", "unmoving", "idle",
    "frozen", "hovering", "stays put", "staying put", "stays in place", "staying in place", "in place",
    "holding its position", "holds its position", "standing", "stands", "sitting", "sits", "staying", "stays",
    "remaining", "remains", "still", "non moving", "nonmoving", "no movement", "no motion", "movement none",
    "motion none", "not move", "not moves", "never moves", "never move", "never moving", "standing up", "stands up",
    "sitting up", "no longer moving", "no longer moves", "not going anywhere", "going nowhere", "goes nowhere",
    "stopped moving", "stops moving", "has stopped", "stopped",
]
# Phrases whose direction word is not a motion: said as nothing.
IDIOMS = [
    "never stops", "never stopping", "keeps on", "keeps", "keeping", "continues", "continuing",
    "speeding up", "speeds up", "slowing down", "slows down", "upside down", "right now", "right away",
    "left behind", "left handed", "right handed", "left over", "leftover", "all right", "alright",
    "(?:pointing|points|pointed|facing|faces|turned|turning) (?:up|down|left|right)(?:wards?)?",
]
# Where the object is, not where it goes ("on the left side", "in the upper right corner"), and
# backgrounds (the world has one): said as nothing.
PLACES = [
    r"(?:in|on|at|near) (?:the )?(?:(?:upper|lower|top|bottom|far) )?(?:left|right|top|bottom|middle|center|centre)"
    r"(?: (?:left|right))?(?: (?:side|corner|half|edge|part))?(?: of the (?:screen|frame|picture|image|video))?",
    r"(?:upper|lower|top|bottom) (?:left|right)(?: corner)?",
    r"(?:on|against|over|with|in front of) (?:a |an |the )?(?:\w+ ){0,2}(?:background|backdrop|canvas)",
    r"(?:the )?(?:background|backdrop)(?: colou?r)? (?:is|being) \w+",
]
FALL = ["falling", "falls", "fall", "dropping", "drops", "drop", "sinking", "sinks", "sink", "descending",
        "descends", "descend"]
RISE = ["rising", "rises", "rise", "climbing", "climbs", "climb", "ascending", "ascends", "ascend"]
DIRECTIONS = {
    "left": ["to the left", "towards the left", "toward the left", "to left", "leftwards", "leftward",
             "westwards", "westward", "westbound", "west"],
    "right": ["to the right", "towards the right", "toward the right", "to right", "rightwards", "rightward",
              "eastwards", "eastward", "eastbound", "east"],
    "up": ["to the top", "towards the top", "toward the top", "upwards", "upward", "northwards", "northward",
           "northbound", "north", "skywards", "skyward"],
    "down": ["to the bottom", "towards the bottom", "toward the bottom", "downwards", "downward", "southwards",
             "southward", "southbound", "south"],
}
# Across the frame: (from, to) -> the direction.
CROSSINGS = {("right", "left"): "left", ("left", "right"): "right", ("top", "bottom"): "down",
             ("bottom", "top"): "up"}
SHAPE_WORDS = {
    "circle": ["circles", "circular", "ball", "balls", "disc", "discs", "disk", "disks", "dot", "dots", "sphere",
               "spheres", "orb", "orbs", "round blob", "round shape", "round thing", "round object", "round"],
    "square": ["squares", "box", "boxes", "block", "blocks", "cube", "cubes", "tile", "tiles", "rectangle",
               "rectangles", "rectangular", "four sided", "4 sided"],
    "triangle": ["triangles", "triangular", "pyramid", "pyramids", "wedge", "wedges", "three sided", "3 sided",
                 "three cornered", "3 cornered"],
}
# A shape word then a noun that also names a shape ("triangular tile"): the shape word says it.
SHAPE_NOUNS = ["tile", "tiles", "piece", "pieces", "block", "blocks", "box", "boxes", "shape", "thing", "object",
               "figure", "form"]
SHAPE_ADJECTIVES = {
    "circle": ["circular", "round"],
    "square": ["square", "rectangular", "four sided", "4 sided"],
    "triangle": ["triangular", "three sided", "3 sided", "three cornered", "3 cornered"],
}
# The nearest of the world's eight colours.
COLOUR_WORDS = {
    "red": ["crimson", "scarlet", "ruby", "cherry", "reddish"],
    "green": ["lime", "emerald", "jade", "greenish"],
    "blue": ["navy", "azure", "cobalt", "sapphire", "bluish"],
    "yellow": ["gold", "golden", "lemon", "yellowish"],
    "cyan": ["aqua", "aquamarine", "turquoise", "teal"],
    "magenta": ["purple", "violet", "fuchsia", "pink", "purplish", "pinkish"],
    "orange": ["amber", "tangerine", "orangish", "orangey", "orangy"],
}
# Words that ask for nothing the world could draw otherwise: dropped without a warning. Speeds,
# sizes, backgrounds and other objects are not here: kino warns that the model does not know them.
FILLER = [
    "that", "which", "who", "is", "are", "it", "its", "one", "single", "lone", "just", "only", "simple", "plain",
    "solid", "filled", "flat", "bright", "light", "dark", "vivid", "pale", "deep", "colored", "coloured", "shape",
    "shaped", "object", "thing", "item", "figure", "piece", "form", "in", "on", "of", "at", "across", "along", "over", "through",
    "screen", "frame", "picture", "image", "video", "scene", "clip", "animation", "view", "side", "edge",
    "background", "backdrop", "with", "against", "colour", "color", "motion", "direction", "movement",
    "perfectly", "completely", "totally", "entirely", "whole time", "all the time", "throughout",
    # style words of prompts written for video generators: the world has one style
    "minimal", "minimalist", "clean", "2d", "geometric", "animated", "cartoon", "style", "vector", "abstract",
    "aesthetic", "crisp", "sharp", "smooth", "looping", "seamless", "loop", "high quality", "hd", "4k",
    "elegant", "matte", "glossy", "shiny", "canvas", "centered", "centred",
    "(?:black|dark|plain|empty|solid|uniform) (?:background|backdrop|canvas|void)",
    # requests around the scene
    "please", "make", "show", "render", "generate", "create", "draw", "animate", "can", "could", "would",
    "you", "u", "i", "me", "like", "want", "need", "let", "see", "give", "produce", "where", "there", "here",
    "this", "some", "will", "shall", "should", "did", "does", "do", "was", "were", "has", "have", "been", "be",
    "but", "rather", "instead", "at all",
]


def negated_rules() -> list[tuple[str, str]]:
    """What a prompt says the scene is not ("not a square", "not red", "not moving left", "rather
    than falling", "neither left nor right", "without squares"): said as nothing, so the model is
    not handed the very word it was told to avoid. "Not moving" alone is stillness and stays
    (STILL)."""
    neg = r"\b(?:not|never|no longer|rather than|instead of)"
    direction = _any(list(DIRECTIONS) + [w for ws in DIRECTIONS.values() for w in ws])
    motion = rf"(?:(?:be |being )?{_any(MOTION_VERBS)} )?(?:{direction}|{_any(FALL)}(?: down)?|{_any(RISE)}(?: up)?)"
    colour = _any(COLOUR_NAMES + [w for ws in COLOUR_WORDS.values() for w in ws])
    shape = _any(SHAPES + [w for ws in SHAPE_WORDS.values() for w in ws])
    looks = rf"(?:(?:a|an|the|any) )?(?:{colour}(?: {shape})?|{shape})"
    either = rf"\bneither {direction} n?or {direction}"
    return [(either, " "), (rf"{neg} {motion}", " "), (rf"(?:{neg}|\bno|\bwithout) {looks}", " ")]


def normalizer_rules() -> list[tuple[str, str]]:
    """The normalizer's replacements in the order they run (after NFKC and lowercasing)."""
    rules = [(r"\bwon['’]t\b", " will not"), (r"\bcan['’]t\b", " can not"), (r"n['’]t\b", " not"),
             (r"['’](?:s|d|ll|re|ve|m)\b", " "), (r"[^\w\s]|_", " "), (r"\s+", " ")]
    rules.extend(negated_rules())
    rules.append((_any(IDIOMS), " "))
    rules.append((_any(PLACES), " "))
    # "still moving left": the adverb, not standing still.
    rules.append((r"\bstill (?=" + _any(MOTION_VERBS) + ")", " "))
    rules.append((_any(STILL), " standing still "))
    for (a, b), d in CROSSINGS.items():
        rules.append((rf"\b(?:from )?(?:the )?{a}(?: side| edge)? (?:to|towards|toward) (?:the )?{b}\b", f" moving {d} "))
    rules.append((_any(FALL) + r"(?: down(?:wards?)?)?", " moving down "))
    rules.append((_any(RISE) + r"(?: up(?:wards?)?)?", " moving up "))
    rules.append((r"(?:\b(?:is|are) )?" + _any(MOTION_VERBS), " moving "))
    for d, words in DIRECTIONS.items():
        rules.append((_any(words), f" {d} "))
    # A direction before the motion ("a left-moving triangle").
    for d in DIRECTIONS:
        rules.append((rf"\b{d}\s+moving\b", f" moving {d} "))
    for canonical, words in SHAPE_ADJECTIVES.items():
        rules.append((_any(words) + " " + _any(SHAPE_NOUNS), f" {canonical} "))
    for canonical, words in (SHAPE_WORDS | COLOUR_WORDS).items():
        rules.append((_any(words), f" {canonical} "))
    rules.append((_any(FILLER), " "))
    rules.append((r"\s+", " "))
    # Words the model does not know, which the engine drops after these rules.
    unknown = rf"(?!{_any(WORDS)})\w+ "
    # An article whose next known word is not a colour or shape lost its noun to the rules above
    # ("down the screen", "in the video a blue square"): said as nothing.
    rules.append((rf"\b(?:a|an|the)\b(?! (?:{unknown})*{_any(COLOUR_NAMES + SHAPES)})\s?", ""))
    # A word or a motion said twice ("cherry red", "floating up to the top") once.
    rules.append((r"\b(standing still|moving \w+|\w+) (?=\1\b)", ""))
    # A direction alone ("a red circle left") is a motion.
    for d in ("left", "right", "up", "down"):
        rules.append((rf"(?<!moving )\b{d}\b", f"moving {d}"))
    # A direction said again after words the model does not know ("glides slowly to the right",
    # "falling steadily from top to bottom"): the last one.
    rules.append((rf"\bmoving (?:(?:left|right|up|down) )?(?=(?:{unknown})*moving (?:left|right|up|down)\b)", ""))
    return rules


def build_tokenizer() -> Tokenizer:
    vocab = {w: i for i, w in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Lowercase()]
        + [normalizers.Replace(Regex(pattern), to) for pattern, to in normalizer_rules()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    # Every prompt starts with [BOS], so the empty (unconditional) prompt is one real token.
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", special_tokens=[("[BOS]", vocab["[BOS]"])])
    return tok


def encode_batch(tok: Tokenizer, prompts: list[str], max_len: int = MAX_TOKENS):
    """ids, mask as int64 [B, max_len], padded with [PAD], unknown words dropped and truncated
    like the engine does (the manifest's ``unknown_words``: "drop")."""
    ids = torch.zeros((len(prompts), max_len), dtype=torch.int64)
    mask = torch.zeros((len(prompts), max_len), dtype=torch.int64)
    for i, enc in enumerate(tok.encode_batch(prompts)):
        row = [t for t in enc.ids if t != UNK_ID][:max_len]
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
        mask[i, : len(row)] = 1
    return ids, mask
