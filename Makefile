# Convenience targets; ./run.sh and ./test.sh are the main entry points (README).
PREFIX ?= $(HOME)/.frei0r-1/lib
# Where `make ofx` puts Kino.ofx.bundle; /usr/OFX/Plugins is searched by every host (needs root).
OFX_PREFIX ?= $(HOME)/OFX/Plugins
CARGO ?= cargo
# Where cargo puts its build (CARGO_TARGET_DIR when set, as cargo itself does).
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)

.PHONY: build test frei0r clean-frei0r editors editors-shotcut clean-editors ofx clean-ofx

build:
	$(CARGO) build --release --workspace

test:
	./test.sh

# The frei0r plugin under its four names (the name picks the plugin: kino = source,
# kino_extend and kino_animate = filters, kino_bridge = a mixer2, MLT's transitions). ~/.frei0r-1/lib is searched by ffmpeg and MLT
# without FREI0R_PATH; for another PREFIX, export the line printed at the end.
frei0r:
	$(CARGO) build --release -p kino-frei0r
	install -d "$(PREFIX)"
	for name in kino kino_extend kino_animate kino_bridge; do \
		install -m 0755 $(TARGET_DIR)/release/libkino_frei0r.so "$(PREFIX)/$$name.so"; \
	done
	# The plugin looks for models beside its own file: <PREFIX>/../share/kino/models.
	install -d "$(PREFIX)/../share/kino/models/kino-shapes"
	install -m 0644 models/kino-shapes/* "$(PREFIX)/../share/kino/models/kino-shapes/"
	@echo "installed kino.so, kino_extend.so, kino_animate.so, kino_bridge.so into $(PREFIX), the shipped model into $(PREFIX)/../share/kino/models"
	@echo "export FREI0R_PATH=$(PREFIX)$${FREI0R_PATH:+:$$FREI0R_PATH}"

clean-frei0r:
	rm -f "$(PREFIX)/kino.so" "$(PREFIX)/kino_extend.so" "$(PREFIX)/kino_animate.so" "$(PREFIX)/kino_bridge.so"
	rm -rf "$(PREFIX)/../share/kino/models/kino-shapes"

# Kdenlive and Shotcut list frei0r effects only with a description; these are kino's (install the
# plugin itself with `make frei0r`). Kdenlive reads the user's data folder (effects/: Kino Extend,
# Kino Animate; generators/: Kino Text to Video; transitions/: Kino Bridge). Shotcut reads filters only from its own install
# folder, so that part needs root: `make editors` installs it when the folder is writable and
# otherwise says to run `sudo make editors-shotcut`. EDITORS_PREFIX=/usr puts both system-wide.
EDITORS_PREFIX ?=
KDENLIVE_DATA ?= $(if $(EDITORS_PREFIX),$(EDITORS_PREFIX)/share/kdenlive,$(or $(XDG_DATA_HOME),$(HOME)/.local/share)/kdenlive)
SHOTCUT_FILTERS ?= $(or $(EDITORS_PREFIX),/usr)/share/shotcut/qml/filters
SHOTCUT_NAMES = kino_extend kino_animate

editors:
	install -d "$(KDENLIVE_DATA)/effects" "$(KDENLIVE_DATA)/generators" "$(KDENLIVE_DATA)/transitions"
	install -m 0644 plugin/frei0r/kdenlive/effects/*.xml "$(KDENLIVE_DATA)/effects/"
	install -m 0644 plugin/frei0r/kdenlive/generators/*.xml "$(KDENLIVE_DATA)/generators/"
	install -m 0644 plugin/frei0r/kdenlive/transitions/*.xml "$(KDENLIVE_DATA)/transitions/"
	@echo "Kdenlive: installed Kino Extend, Kino Animate (effects), Kino Text to Video (generator) and Kino Bridge (composition) into $(KDENLIVE_DATA)"
	@if [ -d "$(SHOTCUT_FILTERS)" ] && [ -w "$(SHOTCUT_FILTERS)" ]; then \
		$(MAKE) --no-print-directory editors-shotcut SHOTCUT_FILTERS="$(SHOTCUT_FILTERS)"; \
	elif [ -d "$(SHOTCUT_FILTERS)" ]; then \
		echo "Shotcut: $(SHOTCUT_FILTERS) needs root (Shotcut has no user folder for filters): sudo make editors-shotcut"; \
	else \
		echo "Shotcut: $(SHOTCUT_FILTERS) not found (Shotcut not installed there); skipped"; \
	fi

editors-shotcut:
	for name in $(SHOTCUT_NAMES); do \
		install -d "$(SHOTCUT_FILTERS)/$$name" && \
		install -m 0644 plugin/frei0r/shotcut/$$name/meta.qml plugin/frei0r/shotcut/$$name/ui.qml "$(SHOTCUT_FILTERS)/$$name/" || exit 1; \
	done
	@echo "Shotcut: installed Kino: Extend and Kino: Animate into $(SHOTCUT_FILTERS)"

clean-editors:
	rm -f "$(KDENLIVE_DATA)/effects/frei0r_kino_extend.xml" "$(KDENLIVE_DATA)/effects/frei0r_kino_animate.xml" "$(KDENLIVE_DATA)/generators/frei0r_kino.xml" "$(KDENLIVE_DATA)/transitions/frei0r_kino_bridge.xml"
	@if [ -w "$(SHOTCUT_FILTERS)" ]; then for name in $(SHOTCUT_NAMES); do rm -rf "$(SHOTCUT_FILTERS)/$$name"; done; fi

# The OpenFX plugin as a bundle (Kino Generate, Extend, Animate, Bridge and Remix in one binary), with
# the shipped model inside it (Contents/Resources/models).
# Hosts search OFX_PLUGIN_PATH, then /usr/OFX/Plugins: export the line printed at the end, or
# install there with `sudo make ofx OFX_PREFIX=/usr/OFX/Plugins` (the folder Resolve's OpenFX
# SDK README names for Linux).
OFX_BUNDLE = $(OFX_PREFIX)/Kino.ofx.bundle
ofx:
	$(CARGO) build --release -p kino-ofx
	install -d "$(OFX_BUNDLE)/Contents/Linux-x86-64"
	install -m 0755 $(TARGET_DIR)/release/libkino_ofx.so "$(OFX_BUNDLE)/Contents/Linux-x86-64/Kino.ofx"
	install -d "$(OFX_BUNDLE)/Contents/Resources/models/kino-shapes"
	install -m 0644 models/kino-shapes/* "$(OFX_BUNDLE)/Contents/Resources/models/kino-shapes/"
	@echo "installed $(OFX_BUNDLE)"
	@echo "export OFX_PLUGIN_PATH=$(OFX_PREFIX)$${OFX_PLUGIN_PATH:+:$$OFX_PLUGIN_PATH}"

clean-ofx:
	rm -rf "$(OFX_BUNDLE)"
