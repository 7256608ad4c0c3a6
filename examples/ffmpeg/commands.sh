#!/usr/bin/env bash
# Copy-paste ffmpeg command lines for the kino frei0r plugin (install it first: `make frei0r`).
# Params, in order, separated by | : prompt|seed|steps|guidance|model|device|negative_prompt|time_unit
# (kino_extend adds |start). Empty params keep their defaults. See docs/frei0r.md.
set -euo pipefail

# Generate: 4 s of "a red circle moving left", seed 3, at 256x256 (the model's frames are
# resized to the host's size), 8 fps as the shipped model makes them.
ffmpeg -y -f lavfi -i "frei0r_src=size=256x256:framerate=8:filter_name=kino:filter_params=a red circle moving left|3" \
  -t 4 -pix_fmt yuv420p generated.mp4

# Extend forward: pad 3 s of frozen frames after the clip, and let kino_extend replace them
# with footage that continues it. The clip's own frames pass through untouched.
ffmpeg -y -i generated.mp4 \
  -vf "tpad=stop_duration=3:stop_mode=clone,frei0r=filter_name=kino_extend:filter_params=a red circle moving left|4" \
  -pix_fmt yuv420p extended.mp4

# Extend backward: reverse, extend, reverse back. The model then continues the clip's
# reversed motion, so give the prompt the reversed direction (left becomes right).
ffmpeg -y -i generated.mp4 \
  -vf "reverse,tpad=stop_duration=2:stop_mode=clone,frei0r=filter_name=kino_extend:filter_params=a red circle moving right|5,reverse" \
  -pix_fmt yuv420p prepended.mp4

# Animate a still: loop the image for 2 s; every output frame is generated from the first.
ffmpeg -y -loop 1 -framerate 8 -i still.png -t 2 \
  -vf "frei0r=filter_name=kino_animate:filter_params=a white triangle moving up|9" -pix_fmt yuv420p animated.mp4 \
  || echo "(make a still.png first, e.g. kino generate ... -o frames/ and use frames/00000.png)"

# Escaping: inside a filtergraph, quote the value and escape , and : with \ ; a | inside the
# prompt needs \\| in the graph (one level for the graph, one for frei0r's own | splitting),
# written \\\\| inside the shell's double quotes.
ffmpeg -y -f lavfi \
  -i "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params='a blue circle\, moving\: left \\\\| fast|2'" \
  -t 1 escaped.mkv
