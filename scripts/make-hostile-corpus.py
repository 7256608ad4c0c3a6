#!/usr/bin/env python3
"""Regenerates tests/fixtures/hostile/: small files that are broken, huge-on-paper, or merely odd,
which kino must either read or refuse with one clear error (tests/hostile_inputs.rs).

Needs only Python's standard library and the ffmpeg command. Every file stays far under 1 MB;
the "bombs" are small files whose headers claim huge frames. Run from anywhere:
    python3 scripts/make-hostile-corpus.py
"""
import os
import random
import struct
import subprocess
import tempfile
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "hostile")
# Deterministic bytes from ffmpeg as far as it allows (no encoder version, no timestamps).
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"]


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, color_type, rows):
    """A PNG of `rows` (filter byte included) compressed as one zlib stream, written row by row so
    a 16000x16000 bomb never exists uncompressed here either."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(r) for r in rows) + z.flush()
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    rng = random.Random(20261202)
    with tempfile.TemporaryDirectory() as tmp:
        # Reference clips: 96x64, 3 s at 8 fps. The mp4 has its index first (faststart), so a
        # truncated copy still opens and its decoder starts without knowing a pixel format.
        src = ["-f", "lavfi", "-i", "testsrc=size=96x64:rate=8:duration=3"]
        mp4, mkv = os.path.join(tmp, "clip.mp4"), os.path.join(tmp, "clip.mkv")
        ffmpeg(*src, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", *BITEXACT, mp4)
        ffmpeg(*src, "-c:v", "libx264", "-pix_fmt", "yuv420p", *BITEXACT, mkv)
        for ext, path in (("mp4", mp4), ("mkv", mkv)):
            whole = read(path)
            write(f"clip.{ext}", whole)
            for label, n in (("512", 512), ("1k", 1024), ("4k", 4096), ("half", len(whole) // 2)):
                write(f"truncated-{label}.{ext}", whole[:n])
        # An mp4 with its index at the end, cut in half: the index is gone.
        late = os.path.join(tmp, "late-index.mp4")
        ffmpeg(*src, "-c:v", "libx264", "-pix_fmt", "yuv420p", *BITEXACT, late)
        write("truncated-index-at-end.mp4", read(late)[: len(read(late)) // 2])

        # MPEG-TS streams join by concatenation: a clip whose pixel format changes mid-stream
        # (yuv420p, then yuv444p), and one whose frame size does (64x48, then 96x64).
        parts = {}
        for key, size, pix in (("a", "64x48", "yuv420p"), ("b", "64x48", "yuv444p"), ("c", "96x64", "yuv420p")):
            parts[key] = os.path.join(tmp, f"{key}.ts")
            ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=8:duration=1", "-c:v", "libx264", "-pix_fmt", pix, *BITEXACT, parts[key])
        write("format-change.ts", read(parts["a"]) + read(parts["b"]))
        write("size-change.ts", read(parts["a"]) + read(parts["c"]))

        # A real 9000x9000 clip (two black frames, 239 KB): over the cap by its stream's size.
        huge = os.path.join(tmp, "huge.mkv")
        ffmpeg("-f", "lavfi", "-i", "color=black:s=9000x9000:r=8", "-frames:v", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *BITEXACT, huge)
        write("huge-9000x9000.mkv", read(huge))

        write("empty.mp4", b"")
        write("random.mp4", rng.randbytes(4096))
        write("random.png", rng.randbytes(4096))
        write("text.mp4", b"This is not a video.\nIt is a text file with a video's name.\n" * 20)

        # A decompression bomb: a 249 KB PNG of 16000x16000 gray pixels (256 MB decoded).
        write("bomb-16000x16000.png", png(16000, 16000, 0, (b"\0" * 16001 for _ in range(16000))))
        # A PNG whose header claims no pixels at all.
        write("zero-0x0.png", png(0, 0, 2, [b"\0"]))
        # A valid 64x48 PNG cut inside its pixel data.
        whole = png(64, 48, 2, (b"\0" + bytes(rng.randrange(256) for _ in range(64 * 3)) for _ in range(48)))
        write("truncated.png", whole[: len(whole) // 2])
        # JPEG and GIF headers claiming 60000x60000 and 16000x16000, with no image data behind.
        write("huge-header.jpg", b"\xff\xd8\xff\xc0\x00\x11\x08" + struct.pack(">HH", 60000, 60000) + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xd9")
        write("huge-header.gif", b"GIF89a" + struct.pack("<HH", 16000, 16000) + b"\x00\x00\x00\x3b")

        jpg = os.path.join(tmp, "still.jpg")
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1", *BITEXACT, jpg)
        write("truncated.jpg", read(jpg)[: len(read(jpg)) // 2])
        gif = os.path.join(tmp, "anim.gif")
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=48x32:rate=8:duration=1", *BITEXACT, gif)
        write("anim.gif", read(gif))
        webp = os.path.join(tmp, "anim.webp")
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=48x32:rate=8:duration=0.5", "-c:v", "libwebp_anim", "-loop", "0", webp)
        write("anim.webp", read(webp))
        audio = os.path.join(tmp, "audio.mp4")
        ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", *BITEXACT, audio)
        write("audio-only.mp4", read(audio))
        for name, size in (("odd-33x17.png", "33x17"), ("tiny-1x1.png", "1x1")):
            path = os.path.join(tmp, name)
            ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}", "-frames:v", "1", *BITEXACT, path)
            write(name, read(path))

    for name in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, name))
        assert size < 1 << 20, name
        print(f"{size:8d}  {name}")


if __name__ == "__main__":
    main()
