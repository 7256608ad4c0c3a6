# Convenience targets; ./run.sh and ./test.sh are the main entry points (README).
PREFIX ?= $(HOME)/.frei0r-1/lib
CARGO ?= cargo

.PHONY: build test frei0r clean-frei0r

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
	@echo "installed kino.so, kino_extend.so, kino_animate.so into $(PREFIX)"
	@echo "export FREI0R_PATH=$(PREFIX)$${FREI0R_PATH:+:$$FREI0R_PATH}"

clean-frei0r:
	rm -f "$(PREFIX)/kino.so" "$(PREFIX)/kino_extend.so" "$(PREFIX)/kino_animate.so"
