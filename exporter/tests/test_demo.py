"""Demo model: the world, the evaluator, and PyTorch vs ONNX Runtime parity of every exported graph."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
import torch

from kino_export.demo import extend, joins, stills, world
from kino_export.demo.conditioned import layout, seam_ratio
from kino_export.demo.evaluate import detect, score, stray_frames
from kino_export.demo.export import (export_decoder, export_encoder, export_package, export_text_and_denoiser, load_autoencoder,
                                     load_text_and_denoiser)
from kino_export.demo.nets import DiT, CausalVideoAutoencoder, TextEncoder
from kino_export.demo.refine_context import user_clips
from kino_export.demo.tokenizer import build_tokenizer, encode_batch
from kino_export.demo.train import (CONFIG, context_mask, edge_loss, held_groups, loss_weights, object_mask,
                                    prefix_where_needed,
                                    temporal_loss)
from kino_export.onnx_export import io_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "models", "kino-shapes")


def test_detector_reads_ground_truth_of_every_scene():
    gen = torch.Generator().manual_seed(0)
    scenes = world.all_scenes()
    c = torch.tensor([world.COLOUR_NAMES.index(s.colour) for s in scenes])
    sh = torch.tensor([world.SHAPES.index(s.shape) for s in scenes])
    m = torch.tensor([world.MOTION_NAMES.index(s.motion) for s in scenes])
    start = torch.rand((len(scenes), 2), generator=gen) * world.SIZE
    clips = ((world.render(c, sh, m, start) + 1) / 2).permute(0, 2, 3, 4, 1).numpy()
    clips = np.round(clips * 255) / 255  # as decoded from an 8-bit video
    results = [score(s, detect(f)) for s, f in zip(scenes, clips)]
    for key in ("colour", "shape", "direction"):
        assert all(r[key] for r in results), key


def _clips(n=24, seed=0, **looks):
    gen = torch.Generator().manual_seed(seed)
    c, sh, m, start = world.random_scenes(gen, n)
    x = world.render(c, sh, m, start, **looks)
    return np.round(((x + 1) / 2).permute(0, 2, 3, 4, 1).numpy() * 255) / 255, (c, sh, m)


def test_ground_truth_has_no_stray_pixels_even_across_the_wrap():
    clips, _ = _clips()
    # Start positions are uniform, so many objects straddle an edge in some frame.
    assert not any(stray_frames(c).any() for c in clips)


def test_stray_pixels_are_found_and_the_object_is_the_largest_blob():
    clips, (c, sh, m) = _clips(4, seed=3)
    clip = clips[0].copy()
    centre = np.argwhere(np.abs(clip[5] - np.array(world.BACKGROUND)).max(-1) > 0.3).mean(0).astype(int)
    far = tuple((centre + 32) % 64)                  # opposite side of the torus from the object
    clip[5, far[0], far[1]] = 1.0                    # one bright pixel
    clip[9, far[0]:far[0] + 3, far[1]:far[1] + 3] = np.array(world.BACKGROUND) + 41 / 255  # a faint glow
    stray = stray_frames(clip)
    assert stray[5] and stray.sum() == 1
    # A small second blob neither changes the object's shape nor its colour.
    clip[:, far[0]:far[0] + 4, far[1]:far[1] + 4] = np.array(world.COLOURS["white"])
    scene = world.Scene(world.COLOUR_NAMES[int(c[0])], world.SHAPES[int(sh[0])], world.MOTION_NAMES[int(m[0])])
    assert all(score(scene, detect(clip)).values())
    assert stray_frames(clip).all()


def test_other_looks_and_codec_losses():
    gen = torch.Generator().manual_seed(1)
    radius, background = world.random_looks(gen, 64)
    assert 8 <= radius.min() and radius.max() <= 17 and (background - torch.tensor(world.BACKGROUND)).abs().max() <= 0.05
    one = torch.zeros(2, dtype=torch.int64)
    small = world.render(one, one, one, torch.full((2, 2), 32.0), radius=torch.tensor([8.0, 16.0]), frames=1)
    area = ((small + 1) / 2 - torch.tensor(world.BACKGROUND)[None, :, None, None, None]).abs().amax(1) > 0.3
    assert 3.5 < area[1].sum() / area[0].sum() < 4.5            # circle area grows with r^2
    x = world.render(one, one, one, torch.full((2, 2), 32.0), frames=5)
    y = world.degrade(x, torch.Generator().manual_seed(2))
    assert y.min() >= -1 and y.max() <= 1 and (y - x).abs().mean() > 0.001
    levels = (y + 1) / 2 * 255
    assert torch.allclose(levels, levels.round(), atol=1e-3)    # 8-bit
    assert torch.equal(y, world.degrade(x, torch.Generator().manual_seed(2)))


def test_conditioned_layout_and_seam_ratio():
    for place in ("start", "end", "both_ends", "keyframes"):
        lat, pix = layout(place)
        assert lat.any() and not lat.all() and pix.any() and not pix.all()
    # A clip moving steadily has seam ratio 1; a jump at the seam shows.
    clips, _ = _clips(1, seed=4)
    _, pix = layout("start")
    assert abs(seam_ratio(clips[0], pix) - 1.0) < 0.35
    jumped = clips[0].copy()
    jumped[9:] = np.roll(jumped[9:], 6, axis=2)
    assert seam_ratio(jumped, pix) > 2.0


def test_detector_rejects_an_empty_frame():
    frames = np.zeros((5, 64, 64, 3), np.float32) + np.array(world.BACKGROUND, np.float32)
    det = detect(frames)
    assert det.colour is None and det.shape is None and det.motion is None


def test_prompt_parsing_and_tokenizer():
    assert world.parse_prompt("A red circle moving left") == world.Scene("red", "circle", "moving left")
    assert world.parse_prompt("an orange triangle, standing still") == world.Scene("orange", "triangle", "standing still")
    assert world.parse_prompt("a purple hexagon") is None
    tok = build_tokenizer()
    ids, mask = encode_batch(tok, ["a red circle moving left", ""])
    assert mask[0].sum() == 6 and mask[1].sum() == 1  # [BOS] + 5 words; the empty prompt is [BOS]
    assert ids[0, 0] == ids[1, 0] == world.SPECIAL.index("[BOS]")
    assert (ids[0, 1:6] != world.SPECIAL.index("[UNK]")).all()


def test_tokenizer_keeps_the_worlds_prompts_and_reads_paraphrases_as_them():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    tok = build_tokenizer()
    # Every prompt training writes keeps the ids a plain word-level reading gives it.
    vocab = {w: i for i, w in enumerate(world.SPECIAL + world.WORDS)}
    plain = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    plain.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    plain.pre_tokenizer = pre_tokenizers.Whitespace()
    for c in range(len(world.COLOUR_NAMES)):
        for s in range(len(world.SHAPES)):
            for m in range(len(world.MOTION_NAMES)):
                for v in range(6):
                    p = world.prompt_for(c, s, m, v)
                    assert tok.encode(p).ids[1:] == plain.encode(p).ids, p
    for para, want in [
        ("A red ball moves to the left.", "a red circle moving left"),
        ("the blue box isn't moving", "the blue square standing still"),
        ("It's a cherry red disc sliding from left to right!", "a red circle moving right"),
        ("a turquoise triangular tile falling down", "a cyan triangle moving down"),
        ("SQUARE: WHITE, NORTHBOUND", "square white moving up"),
        ("a violet wedge, frozen in place", "a magenta triangle standing still"),
        ("green block still travelling east", "green square moving right"),
        # negations, idioms, places and backgrounds are not motions
        ("a red circle that won't move", "a red circle standing still"),
        ("a red circle speeding up on a blue background", "a red circle"),
        ("an upside down triangle standing on the left side", "an triangle standing still"),
        # what the scene is not is not handed to the model ("not moving" alone is stillness)
        ("a red circle that is not moving left", "a red circle"),
        ("a red circle, not a square", "a red circle"),
        ("the ball isn't moving to the left but to the right", "the circle moving right"),
        ("not a red circle but a blue square moving down", "a blue square moving down"),
        ("a green triangle rather than falling, rising", "a green triangle moving up"),
        ("a yellow circle with no squares, moving up", "a yellow circle moving up"),
        ("a red circle that is not moving", "a red circle standing still"),
        ("a blue square moving neither left nor right", "a blue square moving"),
        ("a green triangle without any squares", "a green triangle"),
        # ways to stop, and to keep going
        ("a red circle that is no longer moving", "a red circle standing still"),
        ("a yellow triangle, not going anywhere", "a yellow triangle standing still"),
        ("an orange circle that never stops moving left", "an orange circle moving left"),
        ("a white square keeps moving right", "a white square moving right"),
        # articles whose noun was taken away, and a direction said again, are left out
        ("a red circle moving across the screen to the left", "a red circle moving left"),
        ("in the video a blue square moves up", "a blue square moving up"),
        ("yellow circle moving from left to right across the screen", "yellow circle moving right"),
        ("the green triangle goes up the frame", "the green triangle moving up"),
        ("Heading towards the bottom of the frame, a teal tile.", "moving down a cyan square"),
        ("A gold-coloured circle glides slowly to the right.", "a yellow circle [UNK] moving right"),
        ("a left-moving green triangle", "moving left green triangle"),
    ]:
        assert " ".join(tok.encode(para).tokens[1:]) == want, para
    # Speeds, sizes and other objects stay unknown (kino names them), and encode_batch drops
    # them as the engine does for this package.
    assert "[UNK]" in tok.encode("a small red circle quickly moving left").tokens
    ids, mask = encode_batch(tok, ["a small red circle quickly moving left", "a red circle moving left"])
    assert torch.equal(ids[0], ids[1]) and torch.equal(mask[0], mask[1])


def test_the_shipped_tokenizer_is_the_one_the_recipe_writes():
    shipped = os.path.join(os.path.dirname(__file__), "..", "..", "models", "kino-shapes", "tokenizer.json")
    with open(shipped) as f:
        assert json.loads(build_tokenizer().to_str()) == json.load(f)


def test_prompt_sets_label_every_scene_twice():
    from collections import Counter
    from kino_export.demo.evaluate import load_prompts
    folder = os.path.join(os.path.dirname(world.__file__), "prompt_sets")
    for name in ("wordings-a.json", "wordings-b.json", "wordings-c.json"):
        items = load_prompts(os.path.join(folder, name))
        assert Counter(scene for _, scene in items) == Counter(world.all_scenes() * 2), name
        assert len({p.lower() for p, _ in items}) == len(items), name


@pytest.fixture(scope="module")
def random_package(tmp_path_factory):
    """The real architecture with seeded random weights, exported through the real exporter."""
    torch.manual_seed(7)
    cfg = CONFIG
    ae = CausalVideoAutoencoder(cfg["latent_channels"]).eval()
    te = TextEncoder(len(world.SPECIAL) + len(world.WORDS), cfg["text_dim"]).eval()
    dit = DiT(cfg["latent_channels"], cfg["patch"], cfg["dit_dim"], cfg["dit_layers"], cfg["dit_heads"],
              cfg["text_dim"]).eval()
    # adaLN-Zero starts at zero; randomise so the parity check exercises every path.
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    ck = {"config": cfg, "latent_mean": [0.1] * cfg["latent_channels"], "latent_std": [0.5] * cfg["latent_channels"],
          "seed": 7, "train_seconds": 0, "scores": {}}
    out = str(tmp_path_factory.mktemp("pkg") / "demo")
    export_package(ck, ae, te, dit, out)
    return out, ae, te, dit


def run(path, feeds):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {k: v.numpy() for k, v in feeds.items()})


@pytest.mark.parametrize("batch,text_len", [(1, 3), (3, 9)])
def test_text_encoder_parity(random_package, batch, text_len):
    out, _, te, _ = random_package
    ids = torch.randint(0, 20, (batch, text_len))
    mask = torch.ones_like(ids)
    mask[0, text_len // 2:] = 0
    ref = te(ids, mask).detach().numpy()
    got = run(os.path.join(out, "text_encoder.onnx"), {"input_ids": ids, "attention_mask": mask})[0]
    assert np.abs(got - ref).max() < 1e-4


@pytest.mark.parametrize("batch,frames,h,w", [(2, 5, 16, 16), (1, 3, 8, 24), (2, 9, 16, 32)])
def test_denoiser_parity(random_package, batch, frames, h, w):
    out, _, _, dit = random_package
    lat = torch.randn(batch, CONFIG["latent_channels"], frames, h, w)
    t = torch.rand(batch, frames) * 1000
    t[0, 0] = 0.0
    emb = torch.randn(batch, 6, CONFIG["text_dim"])
    mask = torch.ones(batch, 6, dtype=torch.int64)
    mask[-1, 4:] = 0
    ref = dit(lat, t, emb, mask).detach().numpy()
    got = run(os.path.join(out, "denoiser.onnx"),
              {"latents": lat, "timestep": t, "text_embeds": emb, "text_mask": mask})[0]
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-4


@pytest.mark.parametrize("latent_frames,h,w", [(3, 16, 16), (5, 8, 12)])
def test_chunked_decoder_matches_whole_clip_torch(random_package, latent_frames, h, w):
    out, ae, _, _ = random_package
    z = torch.randn(1, CONFIG["latent_channels"], latent_frames, h, w)
    ref = ae.decode(z).detach().numpy()
    first = ort.InferenceSession(os.path.join(out, "vae_decoder_first.onnx"))
    step = ort.InferenceSession(os.path.join(out, "vae_decoder_step.onnx"))
    frames, cache = first.run(None, {"latents": z[:, :, :1].numpy()})
    chunks = [frames]
    for i in range(1, latent_frames):
        frames, cache = step.run(None, {"latents": z[:, :, i:i + 1].numpy(), "cache_in_0": cache})
        chunks.append(frames)
    got = np.concatenate(chunks, axis=2)
    assert got.shape == (1, 3, 1 + 4 * (latent_frames - 1), 4 * h, 4 * w)
    assert np.abs(got - ref).max() < 1e-4


@pytest.mark.parametrize("frames,size", [(1, 32), (9, 64), (17, 48)])
def test_encoder_parity(random_package, frames, size):
    out, ae, _, _ = random_package
    x = torch.rand(2, 3, frames, size, size) * 2 - 1
    ref = ae.encode(x).detach().numpy()
    got = run(os.path.join(out, "vae_encoder.onnx"), {"frames": x})[0]
    assert got.shape == (2, CONFIG["latent_channels"], 1 + (frames - 1) // 4, size // 4, size // 4)
    assert np.abs(got - ref).max() < 1e-4


def _check_manifest_matches_graphs(pkg):
    """Every role in kino.json names a real graph input/output with the declared dtype."""
    with open(os.path.join(pkg, "kino.json")) as f:
        manifest = json.load(f)
    comps = [manifest["text_encoder"], manifest["denoiser"], manifest["vae_decoder"]["first"],
             manifest["vae_decoder"]["step"], manifest["vae_encoder"]]
    for comp in comps:
        spec = io_spec(os.path.join(pkg, comp["file"]))
        for side in ("inputs", "outputs"):
            assert set(t["name"] for t in comp[side].values()) == set(spec[side]), (comp["file"], side)
            for t in comp[side].values():
                assert spec[side][t["name"]][0] == t["dtype"], (comp["file"], t)
    assert len(manifest["latent"]["mean"]) == manifest["latent"]["channels"]


def test_exported_manifest_matches_graphs(random_package):
    _check_manifest_matches_graphs(random_package[0])


def test_shipped_package_is_complete_and_small():
    assert os.path.isdir(SHIPPED), "models/kino-shapes is the shipped default model"
    _check_manifest_matches_graphs(SHIPPED)
    total = sum(os.path.getsize(os.path.join(SHIPPED, f)) for f in os.listdir(SHIPPED))
    assert total < 20e6


def test_autoencoder_rebuilt_from_the_shipped_package_exports_identical_decoder_graphs(tmp_path):
    """`demo refine-package` starts from the weights inside the package's ONNX graphs: rebuilt,
    they must give back the very same decoder and encoder graphs (and the same math as ONNX
    Runtime)."""
    ae = load_autoencoder(SHIPPED)
    export_decoder(ae, str(tmp_path))
    export_encoder(ae, str(tmp_path))
    for name in ("vae_decoder_first.onnx", "vae_decoder_step.onnx", "vae_encoder.onnx"):
        with open(os.path.join(SHIPPED, name), "rb") as a, open(tmp_path / name, "rb") as b:
            assert a.read() == b.read(), name
    gen = torch.Generator().manual_seed(3)
    frames = torch.rand(1, 3, 9, 32, 32, generator=gen) * 2 - 1
    (want,) = run(os.path.join(SHIPPED, "vae_encoder.onnx"), {"frames": frames})
    with torch.no_grad():
        got = ae.encode(frames).numpy()
    assert np.abs(got - want).max() < 1e-4


def test_shipped_decoder_draws_borders_and_corners_like_the_middle():
    """The decoder pads with the border's own values: with zero padding its last layers saw a
    dark frame around every picture and corners glowed once a sampler's latents were a little
    off (1.7% of frames with stray pixels here, nearly all corners). Reconstructions under such
    latent noise now keep the background clean."""
    ae = load_autoencoder(SHIPPED)
    assert ae.decoder_padding() == "replicate"
    gen = torch.Generator().manual_seed(11)
    c, s, m, start = world.random_scenes(gen, 48)
    x = world.render(c, s, m, start, 17)
    with torch.no_grad():
        z = ae.encode(x)
        rec = ae.decode(z + 0.25 * torch.randn(z.shape, generator=gen)).clamp(-1, 1)
    frames = ((rec + 1) / 2).permute(0, 2, 3, 4, 1).reshape(-1, 64, 64, 3).numpy()
    assert stray_frames(frames).mean() <= 0.005


def test_a_replicate_padded_decoder_exports_what_torch_computes(tmp_path):
    """Edge padding reaches the graphs (ONNX Pad, mode edge) and ONNX Runtime draws the border
    as torch does; the package records the padding, so a rebuilt decoder pads the same way."""
    torch.manual_seed(4)
    ae = CausalVideoAutoencoder(CONFIG["latent_channels"]).eval()
    ae.set_decoder_padding("replicate")
    export_decoder(ae, str(tmp_path))
    z = torch.randn(1, CONFIG["latent_channels"], 2, 5, 7)
    with torch.no_grad():
        want = ae.decode(z).numpy()
    (first, cache) = run(str(tmp_path / "vae_decoder_first.onnx"), {"latents": z[:, :, :1]})
    (step, _) = run(str(tmp_path / "vae_decoder_step.onnx"), {"latents": z[:, :, 1:], "cache_in_0": torch.from_numpy(cache)})
    got = np.concatenate([first, step], axis=2)
    assert np.abs(got - want).max() < 1e-4
    zeros = CausalVideoAutoencoder(CONFIG["latent_channels"]).eval()
    zeros.load_state_dict(ae.state_dict())
    with torch.no_grad():
        assert np.abs(zeros.decode(z).numpy() - want)[..., 0].max() > 1e-3, "the border differs from zero padding"
    with pytest.raises(ValueError):
        ae.set_decoder_padding("circular")


def test_text_encoder_and_denoiser_rebuilt_from_the_shipped_package_match_its_graphs(tmp_path):
    """`demo refine-context` starts from the weights inside the package's graphs (linear weights
    stored transposed under generated names): rebuilt, they compute what the graphs compute,
    and exported again they still do."""
    te, dit = load_text_and_denoiser(SHIPPED)
    gen = torch.Generator().manual_seed(5)
    ids = torch.randint(3, 20, (2, 6), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    lat = torch.randn(2, 4, 3, 16, 16, generator=gen)
    t = torch.rand(2, 3, generator=gen) * 1000
    for folder in (SHIPPED, str(tmp_path)):
        if folder == str(tmp_path):
            export_text_and_denoiser(te, dit, folder)
        (emb,) = run(os.path.join(folder, "text_encoder.onnx"), {"input_ids": ids, "attention_mask": mask})
        (v,) = run(os.path.join(folder, "denoiser.onnx"),
                   {"latents": lat, "timestep": t, "text_embeds": torch.from_numpy(emb), "text_mask": mask})
        with torch.no_grad():
            assert np.abs(te(ids, mask).numpy() - emb).max() < 1e-4
            assert np.abs(dit(lat, t, torch.from_numpy(emb), mask).numpy() - v).max() < 1e-4


def test_context_masks():
    """The main stage's prefix/suffix masks draw exactly what they always drew (the shipped
    recipe stays reproducible); context anywhere never gives every frame, and its keyframes are
    given frames past the first."""
    gen = torch.Generator().manual_seed(1)
    mask, still = context_mask(gen, 64, 5, "prefix_suffix")
    gen = torch.Generator().manual_seed(1)
    r, k = torch.rand(64, generator=gen), torch.randint(1, 5, (64,), generator=gen)
    idx = torch.arange(5)[None]
    want = ((r < 0.3)[:, None] & (idx < k[:, None])) | (((r >= 0.3) & (r < 0.4))[:, None] & (idx >= (5 - k)[:, None]))
    assert torch.equal(mask, want) and not still.any()
    for f in (3, 4, 5):
        mask, still = context_mask(torch.Generator().manual_seed(f), 4000, f, "anywhere")
        assert not mask.all(dim=1).any(), "a sample with every frame given trains nothing"
        assert (still <= mask).all() and not still[:, 0].any()
        both = mask[:, 0] & mask[:, -1]
        assert 0.1 < both.float().mean() < 0.3, "both ends given on about 15-20% of samples"
        assert 0.3 < (~mask.any(dim=1)).float().mean() < 0.4, "text alone on about 35%"
        assert 0.15 < (mask[:, -1] & ~mask[:, 0]).float().mean() < 0.3, "a suffix alone on about 20%"
    x = torch.arange(9.0)[None, None, :, None, None]
    assert held_groups(x).flatten().tolist() == [0, 4, 4, 4, 4, 8, 8, 8, 8]
    # The stage encodes a clip and its held version in one pass: the same as encoding each.
    ae = load_autoencoder(SHIPPED)
    clip = torch.rand(2, 3, 9, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        z, z_held = ae.encode_with_held(clip)
        assert torch.allclose(z, ae.encode(clip), atol=1e-6)
        assert torch.allclose(z_held, ae.encode(held_groups(clip)), atol=1e-6)


def test_context_refinement_shows_clips_from_outside_the_world():
    """Stage 7's clips: about the asked share from outside the world (other sizes and
    backgrounds), about the asked share shown through codec losses, the rest as the world draws
    them; the object mask follows each clip's own background."""
    gen = torch.Generator().manual_seed(3)
    x, shown, background, _, outside, lossy = user_clips(gen, 400, 0.2, 0.3)
    assert x.shape == shown.shape == (400, 3, world.FRAMES, world.SIZE, world.SIZE)
    assert 0.12 < outside.float().mean() < 0.28
    assert torch.equal(lossy, (shown != x).flatten(1).any(dim=1)), "exactly the lossy clips differ as shown"
    assert 0.22 < lossy.float().mean() < 0.38
    world_bg = torch.tensor(world.BACKGROUND)
    assert torch.equal(background[~outside], world_bg.expand(int((~outside).sum()), 3))
    assert (background[outside] - world_bg).abs().amax(dim=1).gt(0).all()
    # Those clips never learn from text alone: a sample that drew no context gets a prefix.
    context = torch.zeros(6, 5, dtype=torch.bool)
    context[0, :2] = True
    needs = torch.tensor([True, True, True, False, False, True])
    got = prefix_where_needed(context, needs, torch.Generator().manual_seed(4))
    assert torch.equal(got[0], context[0]) and not got[3:5].any()
    assert got[[1, 2, 5]].any(dim=1).all() and not got[[1, 2, 5], -1].any()
    assert all(torch.equal(r, torch.arange(5) < r.sum()) for r in got[[1, 2, 5]])
    # As a still to animate: frame 0 alone, the same draws otherwise.
    first = prefix_where_needed(context, needs, torch.Generator().manual_seed(4), first_only=True)
    assert torch.equal(first[[0, 3, 4]], got[[0, 3, 4]])
    assert all(torch.equal(r, torch.arange(5) == 0) for r in first[[1, 2, 5]])
    # The mask finds the object on a shifted background and nothing else.
    j = int(outside.nonzero()[0])
    mask = object_mask(x[j:j + 1], background[j:j + 1])
    assert 0 < mask.float().mean() < 0.5
    assert object_mask(x[j:j + 1] * 0 + background[j:j + 1, :, None, None, None] * 2 - 1,
                       background[j:j + 1]).sum() == 0


def test_loss_weights_skip_given_frames_and_weigh_objects_and_marked_clips():
    context = torch.tensor([[True, False, False], [False, False, True]])
    obj = torch.zeros(2, 1, 3, 2, 2, dtype=torch.bool)
    obj[:, :, :, 0, 0] = True
    w = loss_weights(context, obj)
    assert w.shape == (2, 1, 3, 2, 2)
    assert (w[0, :, 0] == 0).all() and (w[1, :, 2] == 0).all(), "no loss on given frames"
    assert w[0, 0, 1, 0, 0] == 4 and w[0, 0, 1, 1, 1] == 1, "the object weighs four times the background"
    marked = loss_weights(context, obj, torch.tensor([False, True]), 3.0)
    assert torch.equal(marked[0], w[0]) and torch.equal(marked[1], 3 * w[1])
    assert torch.equal(loss_weights(context, obj, torch.tensor([False, True]), 1.0), w)


def test_temporal_loss_penalises_a_jump_at_a_chunk_boundary_more_than_inside():
    x = torch.zeros(1, 3, 9, 4, 4)
    w = torch.ones(1, 1, 9, 4, 4)
    inside, across = x.clone(), x.clone()
    inside[:, :, 3:] += 0.5   # a jump into frame 3 (inside the chunk of frames 1-4)
    across[:, :, 5:] += 0.5   # a jump into frame 5 (the first frame of the next chunk)
    assert temporal_loss(x, x, w, boundary=8.0) == 0
    assert temporal_loss(across, x, w, boundary=8.0) == pytest.approx(8 * temporal_loss(inside, x, w, boundary=8.0))


def test_edge_loss_asks_for_the_real_edge_and_ignores_flat_offsets():
    sharp = torch.zeros(1, 3, 1, 8, 8)
    sharp[..., 4:] = 1.0                      # a vertical edge, one step
    soft = sharp.clone()
    soft[..., 3] = 0.25                       # the same edge spread over a pixel more
    soft[..., 4] = 0.75
    w = torch.ones(1, 1, 1, 8, 8)
    assert edge_loss(sharp, sharp, w) == 0
    assert edge_loss(soft, sharp, w) > 0
    assert edge_loss(sharp + 0.1, sharp, w) == pytest.approx(0.0, abs=1e-7), "a flat offset is not an edge"


def test_stills_size_ratios_on_ground_truth():
    # A still's object kept at its size reads 1.0; drawn at the world's size instead, (12/8)^2.
    one = torch.zeros(1, dtype=torch.int64)
    bg = torch.tensor([[20 / 255, 20 / 255, 25 / 255]])
    kept = world.render(one, one, one + 1, torch.full((1, 2), 32.0), frames=33, radius=torch.tensor([8.0]), background=bg)
    grown = world.render(one, one, one + 1, torch.full((1, 2), 32.0), frames=33, background=bg)
    grown[:, :, :1] = kept[:, :, :1]
    frames = lambda x: ((x[0].permute(1, 2, 3, 0).numpy() + 1) / 2)  # noqa: E731
    ratios = stills.size_ratios(stills.object_areas(frames(kept), bg[0].numpy()))
    assert len(ratios) == 2 and all(abs(r - 1.0) < 0.05 for r in ratios), ratios
    ratios = stills.size_ratios(stills.object_areas(frames(grown), bg[0].numpy()))
    assert all(abs(r - 2.25) < 0.15 for r in ratios), ratios
    # The rendered still is the scene's frame 0 with its look, in 8 bits.
    radii, backgrounds, starts = stills.still_looks(4, seed=3, radius=8.0)
    still = stills.render_still(world.Scene("red", "circle", "moving right"), radii[0], backgrounds[0], starts[0])
    area = stills.object_areas(still[None].astype(np.float32) / 255, backgrounds[0].numpy())[0]
    assert still.dtype == np.uint8 and abs(area - np.pi * 64) < 15, area


def test_stills_command_runs_kino_animate(kino_bin, tmp_path):
    # Through the real binary on the shipped model: three stills from outside the world, 2 s.
    report = tmp_path / "stills.json"
    assert stills.main(["--kino", kino_bin, "--model", os.path.join(ROOT, "models", "kino-shapes"), "--seconds", "2",
                        "--every", "40", "--json", str(report)]) == 0
    runs = json.loads(report.read_text())
    assert list(runs) == ["frames 0-15"], runs
    run = runs["frames 0-15"]
    assert run["clips"] == 3 and run["colour"] == 1.0, run
    # The objects keep about their size (drawn at the world's size they would be 0.5-2.3 times it).
    assert 0.7 < run["size"] < 1.4, run


@pytest.mark.parametrize("bad", [["--every", "0"], ["--seconds", "0"], ["--radius", "-3"], ["--radius", "nan"], []])
def test_stills_refuses_bad_arguments(bad):
    # The last case: no kino binary at --kino.
    with pytest.raises(SystemExit) as e:
        stills.main(["--kino", "/nonexistent/kino", *bad])
    assert e.value.code == 2


def test_extend_seam_reads_one_on_smooth_footage_and_more_at_a_jump():
    # A square moving right 1.25 px a frame: the seam changes as much as any step does.
    one = torch.zeros(1, dtype=torch.int64)
    clip = world.render(one, one + 1, one + 1, torch.full((1, 2), 32.0), frames=33)
    video = ((clip[0].permute(1, 2, 3, 0).numpy() + 1) / 2).astype(np.float32)
    for at in ("start", "end"):
        seam, largest = extend.seam_steps(video, 16, at)
        assert 0.7 < seam < 1.4 and 0.9 < largest < 1.6, (at, seam, largest)
    # The clip's half moved 8 px further on: backwards, the new footage arrives from elsewhere.
    jumped = np.concatenate([video[:16], np.roll(video[16:], 8, axis=2)])
    seam, largest = extend.seam_steps(jumped, 16, "start")
    assert seam > 3 and largest == seam, (seam, largest)


def test_extend_runs_count_from_the_seam():
    assert extend.runs_from_seam(40, "end") == [slice(0, 16), slice(16, 32), slice(32, 40)]
    assert extend.runs_from_seam(40, "start") == [slice(24, 40), slice(8, 24), slice(0, 8)]
    assert extend.runs_from_seam(16, "start") == [slice(0, 16)]


@pytest.mark.parametrize("at", ["start", "end"])
def test_extend_command_runs_kino_extend(kino_bin, tmp_path, at):
    # Through the real binary on the shipped model: three clips from text, extended by 2 s.
    report = tmp_path / "extend.json"
    assert extend.main(["--kino", kino_bin, "--model", os.path.join(ROOT, "models", "kino-shapes"), "--at", at,
                        "--seconds", "2", "--every", "40", "--json", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["clips"] == 3 and r["run 1 from the seam"]["clips"] == 3 and "run 2 from the seam" not in r, r
    assert r["all runs"]["colour"] >= 2 / 3, r
    # A seam is a change like the footage's own steps, not a cut to another picture.
    assert 0.2 < r["seam_median"] < 3 and r["largest_median"] >= max(r["seam_median"], 1.0), r


def test_extend_passes_flags_after_the_dashes_to_kino_extend(kino_bin):
    # An extension kino refuses (--candidates 0) fails the evaluator: the flag reached the binary.
    with pytest.raises(subprocess.CalledProcessError) as e:
        extend.main(["--kino", kino_bin, "--model", os.path.join(ROOT, "models", "kino-shapes"), "--every", "120",
                     "--", "--candidates", "0"])
    assert "--candidates" in e.value.cmd and e.value.cmd[1] == "extend"


@pytest.mark.parametrize("bad", [["--every", "0"], ["--seconds", "0"], ["--seconds", "61"], ["--at", "middle"], []])
def test_extend_refuses_bad_arguments(bad):
    # The last case: no kino binary at --kino.
    with pytest.raises(SystemExit) as e:
        extend.main(["--kino", "/nonexistent/kino", *bad])
    assert e.value.code == 2


def test_joins_seams_read_one_on_smooth_footage_and_more_at_a_jump():
    one = torch.zeros(1, dtype=torch.int64)
    clip = world.render(one, one + 1, one + 1, torch.full((1, 2), 32.0), frames=32)
    video = ((clip[0].permute(1, 2, 3, 0).numpy() + 1) / 2).astype(np.float32)
    seams, largest = joins.seams_over_median(video, slice(13, 25), [(12, 13), (24, 25)])
    assert all(0.7 < s < 1.4 for s in seams) and 0.9 < largest < 1.6, (seams, largest)
    # The clip after the gap 8 px further on: the second seam jumps, the first does not.
    jumped = np.concatenate([video[:25], np.roll(video[25:], 8, axis=2)])
    seams, largest = joins.seams_over_median(jumped, slice(13, 25), [(12, 13), (24, 25)])
    assert seams[0] < 1.4 and seams[1] > 3 and largest == pytest.approx(seams[1]), (seams, largest)


def test_joins_scenes_move_and_repeat_for_a_seed():
    scenes = joins.moving_scenes(30, 5)
    assert len(scenes) == 30 and all(s.motion != "standing still" for s in scenes)
    assert scenes == joins.moving_scenes(30, 5) and scenes != joins.moving_scenes(30, 6)


@pytest.mark.parametrize("kind", ["bridge", "loop"])
def test_joins_command_runs_kino(kino_bin, tmp_path, kind):
    # Through the real binary on the shipped model, two scenes.
    report = tmp_path / "joins.json"
    assert joins.main(["--kino", kino_bin, "--model", os.path.join(ROOT, "models", "kino-shapes"), "--kind", kind,
                       "--count", "2", "--json", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["clips"] == 2 and r["seams"] == (4 if kind == "bridge" else 2) and r["scores"]["colour"] >= 0.5, r
    assert 0.1 < r["seam_median"] < 10 and r["largest_median"] >= 1.0, r
    # Flags after -- reach the binary: one kino refuses fails the evaluator.
    with pytest.raises(subprocess.CalledProcessError):
        joins.main(["--kino", kino_bin, "--model", os.path.join(ROOT, "models", "kino-shapes"), "--kind", kind,
                    "--count", "1", "--", "--candidates", "0"])


@pytest.mark.parametrize("bad", [["--count", "0"], ["--kind", "wipe"], []])
def test_joins_refuses_bad_arguments(bad):
    with pytest.raises(SystemExit) as e:
        joins.main(["--kino", "/nonexistent/kino", *bad])
    assert e.value.code == 2
