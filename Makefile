# Convenience targets; ./run.sh and ./test.sh are the main entry points (README).
PREFIX ?= $(HOME)/.frei0r-1/lib
# Where `make ofx` puts Kino.ofx.bundle; /usr/OFX/Plugins is searched by every host (needs root).
OFX_PREFIX ?= $(HOME)/OFX/Plugins
CARGO ?= cargo

.PHONY: build test frei0r clean-frei0r ofx clean-ofx

build:
	$(CARGO) build --release --workspace

test:
	./test.sh

# The frei0r plugin under its three names (the name picks the plugin: kino = source,
# kino_extend and kino_animate = filters). ~/.frei0r-1/lib is searched by ffmpeg and MLT
# without FREI0R_PATH; for another PREFIX, export the line printed at the end.
frei0r:
	$(CARGO) build --release -p kino-frei0r
	install -d "$(PREFIX)"
	for name in kino kino_extend kino_animate; do \
		install -m 0755 target/release/libkino_frei0r.so "$(PREFIX)/$$name.so"; \
	done
	# The plugin looks for models beside its own file: <PREFIX>/../share/kino/models.
	install -d "$(PREFIX)/../share/kino/models/kino-shapes"
	install -m 0644 models/kino-shapes/* "$(PREFIX)/../share/kino/models/kino-shapes/"
	@echo "installed kino.so, kino_extend.so, kino_animate.so into $(PREFIX), the shipped model into $(PREFIX)/../share/kino/models"
	@echo "export FREI0R_PATH=$(PREFIX)$${FREI0R_PATH:+:$$FREI0R_PATH}"

clean-frei0r:
	rm -f "$(PREFIX)/kino.so" "$(PREFIX)/kino_extend.so" "$(PREFIX)/kino_animate.so"
	rm -rf "$(PREFIX)/../share/kino/models/kino-shapes"

# The OpenFX plugin as a bundle (Kino Generate, Kino Extend, Kino Animate in one binary), with
# the shipped model inside it (Contents/Resources/models).
# Hosts search OFX_PLUGIN_PATH, then /usr/OFX/Plugins: export the line printed at the end, or
# install there with `sudo make ofx OFX_PREFIX=/usr/OFX/Plugins` (the folder Resolve's OpenFX
# SDK README names for Linux).
OFX_BUNDLE = $(OFX_PREFIX)/Kino.ofx.bundle
ofx:
	$(CARGO) build --release -p kino-ofx
	install -d "$(OFX_BUNDLE)/Contents/Linux-x86-64"
	install -m 0755 target/release/libkino_ofx.so "$(OFX_BUNDLE)/Contents/Linux-x86-64/Kino.ofx"
	install -d "$(OFX_BUNDLE)/Contents/Resources/models/kino-shapes"
	install -m 0644 models/kino-shapes/* "$(OFX_BUNDLE)/Contents/Resources/models/kino-shapes/"
	@echo "installed $(OFX_BUNDLE)"
	@echo "export OFX_PLUGIN_PATH=$(OFX_PREFIX)$${OFX_PLUGIN_PATH:+:$$OFX_PLUGIN_PATH}"

clean-ofx:
	rm -rf "$(OFX_BUNDLE)"
