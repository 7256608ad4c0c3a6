"""A procedural video world where prompt adherence can be checked by a program.

One object (circle, square or triangle) of one of eight colours on a plain dark background,
moving left/right/up/down or standing still. The world wraps around (a torus), so an object
that leaves on the left comes back on the right: "moving left" stays true for a minute-long
clip and long videos never run out of scene.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SIZE = 64          # frame width and height in pixels
FRAMES = 17        # frames per training clip (1 + 4*4: the causal VAE's rule)
FPS = 8
SPEED = 1.25       # pixels per frame
RADIUS = 12.0      # object size (circle radius; the other shapes match its extent): 24 px, so a
                   # square's corners span whole latent pixels after the VAE's 4x downsampling
BACKGROUND = (0.06, 0.06, 0.08)

COLOURS = {
    "red": (0.95, 0.15, 0.15),
    "green": (0.15, 0.85, 0.20),
    "blue": (0.20, 0.35, 1.00),
    "yellow": (0.95, 0.90, 0.15),
    "cyan": (0.15, 0.90, 0.90),
    "magenta": (0.90, 0.20, 0.90),
    "white": (0.95, 0.95, 0.95),
    "orange": (1.00, 0.55, 0.10),
}
SHAPES = ["circle", "square", "triangle"]
MOTIONS = {  # name -> (dx, dy) per frame, image y grows downwards
    "moving left": (-1.0, 0.0),
    "moving right": (1.0, 0.0),
    "moving up": (0.0, -1.0),
    "moving down": (0.0, 1.0),
    "standing still": (0.0, 0.0),
}
COLOUR_NAMES = list(COLOURS)
MOTION_NAMES = list(MOTIONS)

# Tokenizer vocabulary: special tokens first, then every word the world knows.
SPECIAL = ["[PAD]", "[BOS]", "[UNK]"]
WORDS = ["a", "an", "the"] + COLOUR_NAMES + SHAPES + ["moving", "left", "right", "up", "down", "standing", "still"]
MAX_TOKENS = 16


@dataclass(frozen=True)
class Scene:
    colour: str
    shape: str
    motion: str

    def prompt(self) -> str:
        return f"a {self.colour} {self.shape} {self.motion}"


def all_scenes() -> list[Scene]:
    return [Scene(c, s, m) for c in COLOUR_NAMES for s in SHAPES for m in MOTION_NAMES]


def parse_prompt(prompt: str) -> Scene | None:
    """The scene a prompt asks for (words outside the vocabulary are ignored)."""
    words = prompt.lower().replace(",", " ").split()
    colour = next((w for w in words if w in COLOURS), None)
    shape = next((w for w in words if w in SHAPES), None)
    motion = None
    for name in MOTION_NAMES:
        if name.split()[1] in words:
            motion = name
    if colour is None or shape is None or motion is None:
        return None
    return Scene(colour, shape, motion)


def _toroidal(d: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """Signed offset on the wrapped axis, in [-size/2, size/2)."""
    return torch.remainder(d + size / 2, size) - size / 2


def render(colour_idx: torch.Tensor, shape_idx: torch.Tensor, motion_idx: torch.Tensor,
           start: torch.Tensor, frames: int = FRAMES, size: int = SIZE,
           radius: torch.Tensor | None = None, background: torch.Tensor | None = None) -> torch.Tensor:
    """Render a batch of clips to [B, 3, F, size, size] in [-1, 1].

    colour_idx, shape_idx, motion_idx: [B] int64; start: [B, 2] float (x, y) of frame 0.
    radius [B] and background [B, 3] (0..1) vary the look away from the world's own
    (``RADIUS``, ``BACKGROUND``): footage from outside the world, as a user's still would be.
    Edges are anti-aliased with a one-pixel ramp of the signed distance.
    """
    palette = torch.tensor([COLOURS[c] for c in COLOUR_NAMES])
    velocity = torch.tensor([MOTIONS[m] for m in MOTION_NAMES]) * SPEED
    colour = palette[colour_idx]                                  # [B,3]
    vel = velocity[motion_idx]                                    # [B,2]
    t = torch.arange(frames, dtype=torch.float32)
    centre = start[:, None, :] + vel[:, None, :] * t[None, :, None]  # [B,F,2]
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    dx = _toroidal(coords[None, None, None, :] - centre[..., 0, None, None], size)  # [B,F,1,W]
    dy = _toroidal(coords[None, None, :, None] - centre[..., 1, None, None], size)  # [B,F,H,1]
    dx, dy = torch.broadcast_tensors(dx, dy)
    r = RADIUS if radius is None else radius[:, None, None, None]
    circle = torch.sqrt(dx * dx + dy * dy) - r
    square = torch.maximum(dx.abs(), dy.abs()) - r * 0.86
    # Equilateral triangle pointing up, centred on its bounding box: top vertex at -h/2,
    # base at +h/2. Each term is the signed distance to one edge (positive outside).
    side = r * 2.3
    h = side * math.sqrt(3) / 2
    k = math.sqrt(3)
    base = dy - h / 2
    right = (k * dx - (dy + h / 2)) / 2
    left = (-k * dx - (dy + h / 2)) / 2
    triangle = torch.maximum(base, torch.maximum(right, left))
    sdf = torch.where(shape_idx[:, None, None, None] == 0, circle,
                      torch.where(shape_idx[:, None, None, None] == 1, square, triangle))
    cover = torch.clamp(0.5 - sdf, 0.0, 1.0)                     # [B,F,H,W]
    bg = torch.tensor(BACKGROUND)[None].expand(len(colour), 3) if background is None else background
    bg = bg[:, :, None, None, None]
    img = bg + cover[:, None] * (colour[:, :, None, None, None] - bg)
    return img * 2.0 - 1.0


def random_looks(gen: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Radii (8..17 px, 24 px across is the world's own 12) and backgrounds (the world's own,
    shifted by up to 0.05 per channel) of objects from outside the world."""
    radius = 8.0 + torch.rand(n, generator=gen) * 9.0
    background = torch.tensor(BACKGROUND)[None] + (torch.rand((n, 3), generator=gen) - 0.5) * 0.1
    return radius, background.clamp(0.0, 1.0)


def degrade(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """What a codec leaves on a clip [B,3,F,H,W] in [-1,1]: chroma at half resolution (4:2:0),
    noise (up to 2.5% of full scale, per clip) and 8-bit levels."""
    b = x.shape[0]
    rgb = (x + 1) / 2
    wr, wb = 0.2126, 0.0722
    y = wr * rgb[:, 0] + (1 - wr - wb) * rgb[:, 1] + wb * rgb[:, 2]
    u, v = rgb[:, 2] - y, rgb[:, 0] - y
    flat = torch.stack([u, v], 1).flatten(0, 1)                      # [B*2,F,H,W] as frames
    f, h, w = flat.shape[1:]
    small = torch.nn.functional.avg_pool2d(flat.reshape(-1, 1, h, w), 2)
    uv = torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    u, v = uv.reshape(b, 2, f, h, w).unbind(1)
    r, bl = y + v, y + u
    g = (y - wr * r - wb * bl) / (1 - wr - wb)
    out = torch.stack([r, g, bl], 1)
    sigma = torch.rand(b, generator=gen) * 0.025
    out = out + torch.randn(out.shape, generator=gen) * sigma[:, None, None, None, None]
    out = torch.round(out.clamp(0, 1) * 255) / 255
    return out * 2 - 1


def random_scenes(gen: torch.Generator, n: int):
    """Random scene indices and start positions."""
    colour = torch.randint(len(COLOUR_NAMES), (n,), generator=gen)
    shape = torch.randint(len(SHAPES), (n,), generator=gen)
    motion = torch.randint(len(MOTION_NAMES), (n,), generator=gen)
    start = torch.rand((n, 2), generator=gen) * SIZE
    return colour, shape, motion, start


def prompt_for(colour: int, shape: int, motion: int, variant: int = 0) -> str:
    """Prompt text; variants vary the article so the encoder does not lean on one word."""
    article = ["a", "a", "a", "the", "an", ""][variant % 6]
    words = [article, COLOUR_NAMES[colour], SHAPES[shape], MOTION_NAMES[motion]]
    return " ".join(w for w in words if w)
