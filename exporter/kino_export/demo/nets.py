"""The demo model's three networks, written to export cleanly to ONNX.

- ``TextEncoder``: word embeddings + a two-layer transformer with a padding mask.
- ``CausalVideoAutoencoder``: 4x spatial, 4x temporal compression with a causal first frame
  (frames = 1 + 4k), like Wan's and LTX's VAEs. The decoder is causal-chunked: the first latent
  frame decodes alone to one frame, every later latent frame decodes to four frames while also
  seeing the previous latent frame (its cache), so a long video decodes chunk by chunk.
- ``DiT``: a diffusion transformer over 4x4 latent patches with adaLN-Zero conditioning on a
  per-frame timestep and the pooled prompt. Per-frame timesteps let the same model denoise some
  frames while others are clean context (extend a clip, animate a still).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def sincos(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of a float tensor [...] -> [..., dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=x.device) / half)
    args = x[..., None].float() * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # Plain matmul-softmax: exports to opset 18 everywhere and runs on every ORT provider.
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(d // self.heads))
        if bias is not None:
            att = att + bias
        y = att.softmax(dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(b, n, d))


# ----------------------------------------------------------------------------- text encoder

class TextEncoder(nn.Module):
    def __init__(self, vocab: int, dim: int = 64, layers: int = 2, heads: int = 4, max_len: int = 16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict({
                "norm1": nn.LayerNorm(dim), "attn": Attention(dim, heads),
                "norm2": nn.LayerNorm(dim),
                "mlp": nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim)),
            }))
        self.norm = nn.LayerNorm(dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        n = input_ids.shape[1]
        x = self.embed(input_ids) + self.pos[:n]
        bias = (1.0 - attention_mask[:, None, None, :].float()) * -1e4
        for blk in self.blocks:
            x = x + blk["attn"](blk["norm1"](x), bias)
            x = x + blk["mlp"](blk["norm2"](x))
        # Padding positions are zeroed so what the denoiser sees depends only on the real tokens.
        return self.norm(x) * attention_mask[..., None].float()


# ----------------------------------------------------------------------------- video autoencoder

class ResBlock2d(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class FrameEncoder(nn.Module):
    """One RGB frame [N,3,H,W] -> features [N,ch,H/4,W/4]."""

    def __init__(self, ch: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.SiLU(),
            nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(32, ch, 4, stride=2, padding=1), ResBlock2d(ch),
        )

    def forward(self, x):
        return self.net(x)


class FrameDecoder(nn.Module):
    """Features [N,ch,h,w] -> one RGB frame [N,3,4h,4w]."""

    def __init__(self, ch: int = 64):
        super().__init__()
        # Upsampling by pixel shuffle keeps the full-resolution layers thin (cheap on CPU).
        self.net = nn.Sequential(
            ResBlock2d(ch),
            nn.Conv2d(ch, 32 * 4, 3, padding=1), nn.PixelShuffle(2), nn.SiLU(),
            nn.Conv2d(32, 16 * 4, 3, padding=1), nn.PixelShuffle(2), nn.SiLU(),
            nn.Conv2d(16, 3, 3, padding=1),
        )

    def forward(self, x):
        return self.net(x)


class CausalVideoAutoencoder(nn.Module):
    T = 4  # temporal compression
    S = 4  # spatial compression

    def __init__(self, latent_channels: int = 4, ch: int = 64):
        super().__init__()
        self.c = latent_channels
        self.ch = ch
        self.frame_enc = FrameEncoder(ch)
        self.enc_first = nn.Sequential(ResBlock2d(ch), nn.Conv2d(ch, latent_channels, 3, padding=1))
        self.enc_group = nn.Sequential(nn.Conv2d(ch * self.T, ch, 3, padding=1), ResBlock2d(ch),
                                       nn.Conv2d(ch, latent_channels, 3, padding=1))
        self.dec_first = nn.Sequential(nn.Conv2d(latent_channels, ch, 3, padding=1), ResBlock2d(ch))
        # A step sees the previous latent frame (cache) and the current one.
        self.dec_step = nn.Sequential(nn.Conv2d(2 * latent_channels, ch * 2, 3, padding=1), ResBlock2d(ch * 2),
                                      nn.Conv2d(ch * 2, ch * self.T, 3, padding=1))
        self.frame_dec = FrameDecoder(ch)

    def decoder_modules(self) -> list[nn.Module]:
        return [self.dec_first, self.dec_step, self.frame_dec]

    def set_decoder_padding(self, mode: str) -> None:
        """Pad the decoder's convolutions with ``zeros`` (as trained first) or ``replicate``
        (the border's own values: a flat background continues past the edge, so the frame's
        borders and corners are drawn by the same weights as its middle; with zeros the last
        layers saw a dark frame around every picture and corners came out glowing). The weights
        do not change; a decoder switched to ``replicate`` is refined before it is used."""
        if mode not in ("zeros", "replicate"):
            raise ValueError(f"decoder padding {mode!r}: zeros or replicate")
        for m in self.decoder_modules():
            for conv in m.modules():
                if isinstance(conv, nn.Conv2d):
                    conv.padding_mode = mode

    def decoder_padding(self) -> str:
        modes = {c.padding_mode for m in self.decoder_modules() for c in m.modules() if isinstance(c, nn.Conv2d)}
        assert len(modes) == 1, modes
        return modes.pop()

    # -- encoder
    def _frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """[B,3,F,H,W] -> per-frame features [B,F,ch,H/4,W/4]."""
        b, _, f, h, w = frames.shape
        feats = self.frame_enc(frames.permute(0, 2, 1, 3, 4).reshape(b * f, 3, h, w))
        hh, ww = feats.shape[-2:]
        return feats.reshape(b, f, self.ch, hh, ww)

    def _latents(self, z0: torch.Tensor, rest: torch.Tensor, k: int) -> torch.Tensor:
        """The first latent frame and the features of the ``4k`` frames after it -> latents
        [B,C,1+k,h,w]."""
        b, _, _, hh, ww = rest.shape
        groups = rest.reshape(b * k, self.T * self.ch, hh, ww)
        zg = self.enc_group(groups).reshape(b, k, self.c, hh, ww).permute(0, 2, 1, 3, 4)
        return torch.cat([z0, zg], dim=2)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """[B,3,1+4k,H,W] -> [B,C,1+k,H/4,W/4]."""
        k = (frames.shape[2] - 1) // self.T
        feats = self._frame_features(frames)
        return self._latents(self.enc_first(feats[:, 0])[:, :, None], feats[:, 1:], k)

    def encode_with_held(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The clip's latents, and the latents of the same clip with every group held still on
        its last frame (``train.held_groups``: how a keyframe image is encoded), from one pass of
        the frame encoder."""
        k = (frames.shape[2] - 1) // self.T
        feats = self._frame_features(frames)
        z0 = self.enc_first(feats[:, 0])[:, :, None]
        held = feats[:, self.T::self.T].repeat_interleave(self.T, dim=1)
        return self._latents(z0, feats[:, 1:], k), self._latents(z0, held, k)

    # -- decoder, chunk by chunk
    def decode_first(self, z0: torch.Tensor) -> torch.Tensor:
        """[B,C,1,h,w] -> [B,3,1,H,W]."""
        return self.frame_dec(self.dec_first(z0[:, :, 0]))[:, :, None]

    def decode_step(self, z_prev: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Previous and current latent frame [B,C,1,h,w] -> the current four frames [B,3,4,H,W]."""
        b, c, _, hh, ww = z.shape
        feats = self.dec_step(torch.cat([z_prev[:, :, 0], z[:, :, 0]], dim=1))
        feats = feats.reshape(b * self.T, self.ch, hh, ww)
        out = self.frame_dec(feats)
        return out.reshape(b, self.T, 3, hh * self.S, ww * self.S).permute(0, 2, 1, 3, 4)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Whole clip [B,C,1+k,h,w] -> [B,3,1+4k,H,W] (the same math as the chunk loop)."""
        b, c, f, hh, ww = z.shape
        first = self.decode_first(z[:, :, :1])
        if f == 1:
            return first
        prev = z[:, :, :-1].permute(0, 2, 1, 3, 4).reshape(b * (f - 1), c, 1, hh, ww)
        cur = z[:, :, 1:].permute(0, 2, 1, 3, 4).reshape(b * (f - 1), c, 1, hh, ww)
        rest = self.decode_step(prev, cur)                            # [B*(f-1),3,4,H,W]
        rest = rest.reshape(b, f - 1, 3, self.T, hh * self.S, ww * self.S)
        rest = rest.permute(0, 2, 1, 3, 4, 5).reshape(b, 3, (f - 1) * self.T, hh * self.S, ww * self.S)
        return torch.cat([first, rest], dim=2)


# ----------------------------------------------------------------------------- diffusion transformer

class DiTBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(approximate="tanh"), nn.Linear(dim * 4, dim))
        self.ada = nn.Linear(dim, dim * 6)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, cond):
        s1, b1, g1, s2, b2, g2 = self.ada(F.silu(cond)).chunk(6, dim=-1)
        x = x + g1 * self.attn(self.norm1(x) * (1 + s1) + b1)
        x = x + g2 * self.mlp(self.norm2(x) * (1 + s2) + b2)
        return x


class DiT(nn.Module):
    def __init__(self, latent_channels: int = 4, patch: int = 4, dim: int = 160, layers: int = 5,
                 heads: int = 5, text_dim: int = 64):
        super().__init__()
        self.c = latent_channels
        self.p = patch
        self.dim = dim
        self.patch_in = nn.Linear(latent_channels * patch * patch, dim)
        self.t_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.text_mlp = nn.Sequential(nn.Linear(text_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList([DiTBlock(dim, heads) for _ in range(layers)])
        self.norm_out = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(dim, dim * 2)
        self.patch_out = nn.Linear(dim, latent_channels * patch * patch)
        nn.init.zeros_(self.ada_out.weight)
        nn.init.zeros_(self.ada_out.bias)
        nn.init.zeros_(self.patch_out.weight)
        nn.init.zeros_(self.patch_out.bias)

    def forward(self, latents: torch.Tensor, timestep: torch.Tensor, text_embeds: torch.Tensor,
                text_mask: torch.Tensor) -> torch.Tensor:
        """latents [B,C,F,h,w] (normalised), timestep [B,F] (sigma*1000), text [B,L,D], mask [B,L]."""
        b, c, f, hh, ww = latents.shape
        p = self.p
        gh, gw = hh // p, ww // p
        # Patchify: tokens in (frame, row, column) order.
        x = latents.reshape(b, c, f, gh, p, gw, p).permute(0, 2, 3, 5, 1, 4, 6)
        x = x.reshape(b, f * gh * gw, c * p * p)
        x = self.patch_in(x)
        third = (self.dim // 6) * 2  # even, for sin/cos pairs
        pf = sincos(torch.arange(f, device=x.device).float(), third, 100.0)
        py = sincos(torch.arange(gh, device=x.device).float(), third, 100.0)
        px = sincos(torch.arange(gw, device=x.device).float(), self.dim - 2 * third, 100.0)
        pos = torch.cat([
            pf[:, None, None, :].expand(f, gh, gw, third),
            py[None, :, None, :].expand(f, gh, gw, third),
            px[None, None, :, :].expand(f, gh, gw, self.dim - 2 * third),
        ], dim=-1).reshape(1, f * gh * gw, self.dim)
        x = x + pos
        # Conditioning: per-frame timestep + pooled prompt, broadcast to that frame's tokens.
        m = text_mask.float()[..., None]
        pooled = (text_embeds * m).sum(1) / m.sum(1).clamp(min=1.0)
        cond_f = self.t_mlp(sincos(timestep, self.dim)) + self.text_mlp(pooled)[:, None, :]  # [B,F,dim]
        cond = cond_f[:, :, None, :].expand(b, f, gh * gw, self.dim).reshape(b, f * gh * gw, self.dim)
        for blk in self.blocks:
            x = blk(x, cond)
        shift, scale = self.ada_out(F.silu(cond)).chunk(2, dim=-1)
        x = self.patch_out(self.norm_out(x) * (1 + scale) + shift)
        x = x.reshape(b, f, gh, gw, c, p, p).permute(0, 4, 1, 2, 5, 3, 6)
        return x.reshape(b, c, f, hh, ww)
